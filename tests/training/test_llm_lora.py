"""A LoRA trained on the LLM travels as `adapter/llm_lora/` (safetensors) and is merged whenever the adapter
is loaded: by the pipeline, and by a later stage that starts from the adapter (which keeps it, or trains it on)."""

import filecmp
import json
import shutil

import pytest
import torch
from conftest import tiny_config
from safetensors.torch import load_file, save_file

from llmdiff.errors import UserError
from llmdiff.training.config import load_config
from llmdiff.training.recipes import RECIPES


def run_stage(models, dataset, output, stage, **groups):
    recipe = RECIPES[stage](load_config(data=tiny_config(models, dataset, output, stage, **groups)))
    recipe.setup()
    recipe.train()
    recipe.cleanup()
    return recipe


@pytest.fixture(scope="module")
def lora_run(models, dataset, tmp_path_factory):
    """Stage 2 with LoRA on the LLM, a few steps at a high rate so the LoRA moves off its zero start."""
    output = tmp_path_factory.mktemp("lora_run")
    run_stage(models, dataset, output, "end_to_end",
              train={"components": ["adapter", "llm"], "llm_lora_rank": 4, "max_steps": 3},
              optim={"lr": 1e-2}, data={"text_fields": ["translation"], "resolution": 16})
    return output


def encoder_states(encoder, prompt="ein roter Kreis"):
    with torch.no_grad():
        return encoder.encode(prompt).hidden_states


def test_loading_the_adapter_merges_its_llm_lora(models, lora_run):
    from llmdiff.pipeline import LLMDiffusionPipeline, load_text_encoder_config
    from llmdiff.text_encoder import LLMTextEncoder

    lora = lora_run / "adapter" / "llm_lora"
    pipe = LLMDiffusionPipeline.from_pretrained(base=models["sd"], adapter=lora_run / "adapter")
    plain = LLMTextEncoder.from_pretrained(models["llm"], config=load_text_encoder_config(lora_run / "adapter")[1])

    # The merged weight is the LLM's own plus the saved LoRA's update, scaled by alpha / rank.
    saved = load_file(str(lora / "adapter_model.safetensors"))
    settings = json.loads((lora / "adapter_config.json").read_text())
    prefix = "base_model.model.layers.0.self_attn.q_proj"
    update = saved[f"{prefix}.lora_B.weight"] @ saved[f"{prefix}.lora_A.weight"]
    assert update.abs().max() > 0
    expected = plain.model.layers[0].self_attn.q_proj.weight + update * settings["lora_alpha"] / settings["r"]
    assert torch.allclose(pipe.text_encoder.model.layers[0].self_attn.q_proj.weight, expected, atol=1e-6)
    assert not any("lora" in name for name, _ in pipe.text_encoder.model.named_parameters())
    assert not torch.allclose(encoder_states(pipe.text_encoder), encoder_states(plain))

    with pytest.raises(UserError, match="LoRA"):  # an encoder loaded without the LoRA would read other states
        LLMDiffusionPipeline.from_pretrained(base=models["sd"], adapter=lora_run / "adapter", text_encoder=plain)


def test_a_later_stage_keeps_the_lora_or_trains_it_on(models, dataset, lora_run, tmp_path):
    from llmdiff.training.models import llm_cache

    start = {"base": str(models["sd"]), "llm": str(models["llm"]), "adapter": str(lora_run / "adapter")}
    quality = run_stage(models, dataset, tmp_path / "quality", "quality", model=start,
                        train={"components": ["adapter"], "max_steps": 1})
    kept = tmp_path / "quality" / "adapter" / "llm_lora"
    assert quality.encoder.lora == str((lora_run / "adapter" / "llm_lora").resolve())
    assert not filecmp.dircmp(lora_run / "adapter" / "llm_lora", kept).diff_files

    # The LLM states a run caches depend on the LoRA, so its cache key does too.
    cache = {"dir": str(tmp_path / "cache")}
    without = tmp_path / "without_lora"
    shutil.copytree(lora_run / "adapter", without, ignore=shutil.ignore_patterns("llm_lora"))
    plain = load_config(data=tiny_config(models, dataset, tmp_path / "x", "quality", cache=cache,
                                         model={**start, "adapter": str(without)}))
    with_lora = load_config(data=tiny_config(models, dataset, tmp_path / "x", "quality", model=start, cache=cache))
    assert llm_cache(plain).key_hash != llm_cache(with_lora).key_hash

    recipe = RECIPES["end_to_end"](load_config(data=tiny_config(
        models, dataset, tmp_path / "more", "end_to_end", model=start,
        train={"components": ["adapter", "llm"], "llm_lora_rank": 8, "max_steps": 2}, optim={"lr": 1e-2},
        data={"text_fields": ["translation"], "resolution": 16})))
    recipe.setup()
    saved = load_file(str(lora_run / "adapter" / "llm_lora" / "adapter_model.safetensors"))
    live = {name.replace(".default", ""): value for name, value in recipe.models["llm"].state_dict().items()
            if "lora_" in name}
    assert set(live) == set(saved)  # the saved LoRA (rank 4), not a fresh one at rank 8
    assert all(torch.equal(live[name], saved[name]) for name in saved)
    recipe.train()
    recipe.cleanup()
    trained = load_file(str(tmp_path / "more" / "adapter" / "llm_lora" / "adapter_model.safetensors"))
    assert any(not torch.equal(trained[name], saved[name]) for name in saved)


def test_a_lora_that_fits_no_layer_or_is_not_safetensors_is_refused(models, lora_run, tmp_path):
    from llmdiff.text_encoder import LLMTextEncoder

    foreign = tmp_path / "foreign"
    shutil.copytree(lora_run / "adapter" / "llm_lora", foreign)
    weights = load_file(str(foreign / "adapter_model.safetensors"))
    save_file({name.replace("q_proj", "query"): value for name, value in weights.items()},
              str(foreign / "adapter_model.safetensors"))
    with pytest.raises(UserError, match="does not fit this LLM"):
        LLMTextEncoder.from_pretrained(models["llm"], lora=foreign)

    pickled = tmp_path / "pickled"
    pickled.mkdir()
    shutil.copy(foreign / "adapter_config.json", pickled)
    (pickled / "adapter_model.bin").write_bytes(b"never unpickled")
    with pytest.raises(UserError, match="only safetensors"):
        LLMTextEncoder.from_pretrained(models["llm"], lora=pickled)


def test_merge_refuses_to_average_different_llm_loras(lora_run, tmp_path):
    from llmdiff.merge import merge_models

    same = tmp_path / "same"
    shutil.copytree(lora_run / "adapter", same)
    settings = json.loads((same / "llm_lora" / "adapter_config.json").read_text())
    settings["base_model_name_or_path"] = "/elsewhere/llm"  # where another machine kept the LLM: no matter
    (same / "llm_lora" / "adapter_config.json").write_text(json.dumps(settings))
    merged = merge_models([lora_run / "adapter", same], tmp_path / "soup")
    assert not filecmp.dircmp(lora_run / "adapter" / "llm_lora", merged / "llm_lora").diff_files

    other = tmp_path / "other"
    shutil.copytree(lora_run / "adapter", other)
    weights = load_file(str(other / "llm_lora" / "adapter_model.safetensors"))
    save_file({name: value * 2 for name, value in weights.items()}, str(other / "llm_lora" / "adapter_model.safetensors"))
    with pytest.raises(UserError, match="LoRAs differ"):
        merge_models([lora_run / "adapter", other], tmp_path / "soup2")
    assert not (tmp_path / "soup2").exists()
