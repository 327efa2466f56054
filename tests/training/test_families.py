"""Every connector family trains through the existing stages on tiny models, chosen by `model.connector`:
what is frozen stays bit-for-bit, what trains changes, and the export loads as its own family."""

import json
import math

import pytest
import torch
import yaml
from conftest import tiny_config

from llmdiff.connectors import build_connector, load_connector
from llmdiff.errors import UserError
from llmdiff.training.config import load_config
from llmdiff.training.models import check_teacher_compatible
from llmdiff.training.recipes import RECIPES


def snapshot(module):
    return {name: param.detach().clone() for name, param in module.state_dict().items()}


def changed(before, module):
    after = module.state_dict()
    return {name for name, value in before.items() if not torch.equal(value, after[name])}


def trainable(module):
    return {name for name, param in module.named_parameters() if param.requires_grad}


def family_config(models, dataset, output, name, **groups):
    """A shipped tiny family config (configs/train/NAME.yaml) pointed at the test's tiny models."""
    from pathlib import Path

    shipped = yaml.safe_load((Path(__file__).parents[2] / "configs" / "train" / f"{name}.yaml").read_text())
    config = tiny_config(models, dataset, output, shipped["stage"], shipped["model"]["base"].split("/")[-1])
    model = {key: value for key, value in shipped["model"].items() if key not in ("base", "llm", "adapter")}
    config["model"] = {**config["model"], **model}
    if "adapter_config" not in shipped["model"]:
        config["model"].pop("adapter_config")
    config["data"]["text_fields"] = shipped["data"]["text_fields"]
    for key in ("clip_text_field", "image_field"):
        if key in shipped["data"]:
            config["data"][key] = shipped["data"][key]
    train = {key: value for key, value in shipped["train"].items() if key not in ("max_steps", "batch_size")}
    config["train"].update(train)
    for group, values in groups.items():
        config.setdefault(group, {}).update(values)
    return load_config(data=config)


def make(config):
    recipe = RECIPES[config.stage](config)
    recipe.setup()
    return recipe


def test_ella_learns_alone_and_reads_each_examples_noise_step(models, dataset, tmp_path):
    recipe = make(family_config(models, dataset, tmp_path / "run", "tiny_ella"))
    frozen = {"llm": recipe.encoder, "unet": recipe.pipeline.unet, "vae": recipe.pipeline.vae}
    before = {name: snapshot(module) for name, module in frozen.items()}
    adapter = recipe.models["adapter"]
    adapter_before = snapshot(adapter)
    drawn, given = [], []
    noised = recipe.diffusion_loss.noised

    def record_noise(x0, generator):
        out = noised(x0, generator)
        drawn.append(out[1].clone())
        return out

    recipe.diffusion_loss.noised = record_noise
    adapter.register_forward_hook(lambda module, args, kwargs, out: given.append(kwargs["timestep"].clone()),
                                  with_kwargs=True)
    recipe.train()
    recipe.cleanup()
    assert math.isfinite(recipe.last_scalars["loss"])
    for name, module in frozen.items():
        assert not changed(before[name], module), f"frozen {name} changed"
    assert changed(adapter_before, adapter) == trainable(adapter)
    assert len(given) == 3 and all(torch.equal(a, b) for a, b in zip(given, drawn))  # each example its own step
    assert len(set(torch.cat(given).tolist())) > 1
    exported = load_connector(tmp_path / "run" / "adapter")
    assert exported.family == "ella" and exported.timestep_aware
    for name, value in exported.state_dict().items():
        assert torch.equal(value, adapter.state_dict()[name])
    counted = json.loads((tmp_path / "run" / "trainable_parameters.json").read_text())
    assert counted == {"adapter": sum(p.numel() for p in adapter.parameters())}


def test_the_timestep_free_perceiver_trains_without_reading_the_noise_step(models, dataset, tmp_path):
    config = family_config(models, dataset, tmp_path / "run", "tiny_ella")
    config.model.adapter_config["timestep_aware"] = False
    recipe = make(config)
    adapter = recipe.models["adapter"]
    assert not recipe.timestep_aware
    given = []
    adapter.register_forward_hook(lambda module, args, kwargs, out: given.append(kwargs.get("timestep")),
                                  with_kwargs=True)
    recipe.train()
    recipe.cleanup()
    assert math.isfinite(recipe.last_scalars["loss"]) and given and all(t is None for t in given)
    assert not load_connector(tmp_path / "run" / "adapter").timestep_aware


def test_lavi_bridge_trains_adapter_and_lora_on_unet_and_llm(models, dataset, tmp_path):
    recipe = make(family_config(models, dataset, tmp_path / "run", "tiny_lavi_bridge"))
    assert recipe.encoder.config.pad_to_max_length and not recipe.encoder.config.use_attention_mask
    unet, llm, vae, adapter = recipe.models["unet"], recipe.models["llm"], recipe.pipeline.vae, recipe.models["adapter"]
    before = {"unet": snapshot(unet), "llm": snapshot(llm), "vae": snapshot(vae), "adapter": snapshot(adapter)}
    recipe.train()
    recipe.cleanup()
    assert not changed(before["vae"], vae)
    for name, module in (("unet", unet), ("llm", llm)):
        moved = changed(before[name], module)
        assert moved and all("lora" in key for key in moved), f"{name}: only LoRA weights may change"
    assert changed(before["adapter"], adapter) == trainable(adapter)
    out = tmp_path / "run"
    assert load_connector(out / "adapter").family == "lavi_bridge"
    assert (out / "adapter" / "llm_lora" / "adapter_model.safetensors").is_file()
    assert (out / "base" / "unet" / "diffusion_pytorch_model.safetensors").is_file()


def test_omnidiffusion_aligns_to_the_clip_teacher_then_trains_end_to_end(models, dataset, tmp_path):
    align = make(family_config(models, dataset, tmp_path / "align", "tiny_omnidiffusion_align"))
    frozen = {"llm": align.encoder, "clip": align.teacher, "unet": align.pipeline.unet}
    before = {name: snapshot(module) for name, module in frozen.items()}
    adapter_before = snapshot(align.models["adapter"])
    align.train()
    align.cleanup()
    assert "pooled" in align.last_scalars  # SDXL-shaped: the pooled vector is pulled toward CLIP's too
    for name, module in frozen.items():
        assert not changed(before[name], module), f"frozen {name} changed"
    assert changed(adapter_before, align.models["adapter"]) == trainable(align.models["adapter"])
    stage1 = load_connector(tmp_path / "align" / "adapter")
    assert stage1.family == "omnidiffusion" and stage1.config.num_queries == 77 and stage1.pooled_dim == 32

    e2e = make(family_config(models, dataset, tmp_path / "e2e", "tiny_omnidiffusion_e2e",
                             model={"adapter": str(tmp_path / "align" / "adapter")}))
    assert all(torch.equal(value, stage1.state_dict()[name]) for name, value in e2e.models["adapter"].state_dict().items())
    before = {"unet": snapshot(e2e.models["unet"]), "adapter": snapshot(e2e.models["adapter"]), "llm": snapshot(e2e.encoder)}
    e2e.train()
    e2e.cleanup()
    assert changed(before["unet"], e2e.models["unet"]) and changed(before["adapter"], e2e.models["adapter"])
    assert not changed(before["llm"], e2e.encoder)
    assert load_connector(tmp_path / "e2e" / "adapter").family == "omnidiffusion"


def test_paradiffusion_feeds_llm_states_straight_to_an_llm_wide_unet(models, dataset, tmp_path):
    recipe = make(family_config(models, dataset, tmp_path / "run", "tiny_paradiffusion"))
    assert recipe.info.cond_dim == recipe.encoder.hidden_size == 64
    assert set(recipe.models) == {"unet", "llm"} and recipe.frozen_adapter.family == "identity"
    unet, llm = recipe.models["unet"], recipe.models["llm"]
    before = {"unet": snapshot(unet), "llm": snapshot(llm), "vae": snapshot(recipe.pipeline.vae)}
    recipe.train()
    recipe.cleanup()
    assert not changed(before["vae"], recipe.pipeline.vae)
    assert changed(before["unet"], unet) == trainable(unet)  # the whole UNet learns
    moved = changed(before["llm"], llm)
    assert moved and all("lora" in key for key in moved)
    out = tmp_path / "run"
    assert load_connector(out / "adapter").family == "identity"
    assert (out / "adapter" / "llm_lora" / "adapter_model.safetensors").is_file()

    # The run's output is a model folder: model.init_from starts the next run from it.
    again = make(load_config(data={**tiny_config(models, dataset, tmp_path / "again", "end_to_end"),
                                   "model": {"init_from": str(out), "llm": str(models["llm"])},
                                   "train": {"max_steps": 1, "batch_size": 2, "components": ["unet"]}}))
    assert again.config.model.base == str(out / "base") and again.frozen_adapter.family == "identity"
    saved = snapshot(type(unet).from_pretrained(out / "base" / "unet"))
    assert not changed(saved, again.models["unet"])
    again.cleanup()


def test_init_from_needs_a_model_folder_and_refuses_a_second_base(models, dataset, tmp_path):
    (tmp_path / "half" / "base").mkdir(parents=True)
    config = tiny_config(models, dataset, tmp_path / "run", "end_to_end")
    with pytest.raises(UserError, match="has no adapter/ folder"):
        load_config(data={**config, "model": {"init_from": str(tmp_path / "half")}})
    (tmp_path / "half" / "adapter").mkdir()
    with pytest.raises(UserError, match="model.init_from sets model.base to .*leave model.base out"):
        load_config(data={**config, "model": {"init_from": str(tmp_path / "half"), "base": str(models["sd"])}})
    with pytest.raises(UserError, match="model.connector: unknown family 'elle'"):
        load_config(data={**config, "model": {**config["model"], "connector": "elle"}})


@pytest.mark.parametrize("family, options, message", [
    ("lavi_bridge", {"hidden_dim": 16}, "the 'lavi_bridge' connector gives one position per LLM token"),
    ("identity", {}, "the 'identity' connector gives one position per LLM token"),
    ("ella", {"num_layers": 1, "num_heads": 4, "num_latents": 77, "time_channels": 32},
     "cannot train a 'ella' connector: its output changes with the denoising step"),
    ("llmdiff", {"hidden_dim": 32, "num_heads": 4, "num_queries": 64}, "needs 77 output positions .* gives 64 positions"),
])
def test_stage1_refuses_a_connector_the_teacher_cannot_fit(family, options, message):
    connector = build_connector(family, 64, 64, **options)
    with pytest.raises(UserError, match=message):
        check_teacher_compatible(connector, 77)
    check_teacher_compatible(build_connector("omnidiffusion", 64, 64, num_heads=4, num_encoder_layers=1,
                                             num_decoder_layers=1, ff_dim=32, num_queries=77), 77)


def test_stage1_refusal_reaches_the_user_before_training(models, dataset, tmp_path):
    config = load_config(data={**tiny_config(models, dataset, tmp_path / "run", "align"),
                               "model": {"base": str(models["sd"]), "llm": str(models["llm"]), "connector": "lavi_bridge"}})
    with pytest.raises(UserError, match="stage 1 \\(align\\) needs 77 output positions"):
        RECIPES["align"](config).setup()


@pytest.mark.parametrize("name, family", [("tiny_ella", "ella"), ("tiny_lavi_bridge", "lavi_bridge"),
                                          ("tiny_omnidiffusion_align", "omnidiffusion"),
                                          ("tiny_paradiffusion", "identity")])
def test_shipped_family_configs_name_their_family(name, family):
    from pathlib import Path

    config = load_config(Path(__file__).parents[2] / "configs" / "train" / f"{name}.yaml")
    assert config.model.connector == family
    header = (Path(__file__).parents[2] / "configs" / "train" / f"{name}.yaml").read_text().splitlines()
    assert any(line.startswith(f"# Launch: llmdiff train configs/train/{name}.yaml") for line in header)
