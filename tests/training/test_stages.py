"""Each stage trains a few steps on tiny models: what is frozen stays bit-for-bit, what trains changes,
and the exported result loads through the public pipeline."""

import math

import pytest
import torch
from conftest import tiny_config, write_dataset

from llmdiff.training.config import load_config
from llmdiff.training.data import CorruptImageError
from llmdiff.training.recipe import TrainingDiverged
from llmdiff.training.recipes import RECIPES


def snapshot(module):
    return {name: param.detach().clone() for name, param in module.state_dict().items()}


def changed(before, module):
    after = module.state_dict()
    return {name for name, value in before.items() if not torch.equal(value, after[name])}


def make(models, dataset, tmp_path, stage, family="sd", **groups):
    config = load_config(data=tiny_config(models, dataset, tmp_path / "run", stage, family, **groups))
    recipe = RECIPES[stage](config)
    recipe.setup()
    return recipe


@pytest.mark.parametrize("family", ["sd", "sdxl"])
def test_align_trains_only_the_adapter(models, dataset, tmp_path, family):
    recipe = make(models, dataset, tmp_path, "align", family, log={"sample_every_steps": 3})
    frozen = {"llm": recipe.encoder, "clip": recipe.teacher, "unet": recipe.pipeline.unet, "vae": recipe.pipeline.vae}
    before = {name: snapshot(module) for name, module in frozen.items()}
    adapter_before = snapshot(recipe.models["adapter"])
    recipe.train()
    recipe.cleanup()
    for name, module in frozen.items():
        assert not changed(before[name], module), f"frozen {name} changed"
    moved = changed(adapter_before, recipe.models["adapter"])
    trainable = {n for n, p in recipe.models["adapter"].named_parameters() if p.requires_grad}
    if family == "sd":  # no pooled head: every parameter gets a gradient
        assert moved == trainable
    else:
        assert "pooled" in recipe.last_scalars and moved == trainable
    assert recipe.models["adapter"].config.num_queries == 77
    assert (tmp_path / "run" / "samples" / "step-000003.png").is_file()

    from llmdiff.pipeline import LLMDiffusionPipeline

    pipe = LLMDiffusionPipeline.from_pretrained(base=models[family], adapter=tmp_path / "run" / "adapter")
    assert pipe.text_encoder.name  # the LLM came from the adapter's saved spec
    out = pipe("a red circle", num_inference_steps=2, height=16, width=16, seed=0, progress=False)
    assert out.images[0].size == (16, 16)


def test_align_learns_through_the_frozen_unet(models, dataset, tmp_path):
    # With the pull toward CLIP weighted 0, the adapter's only gradient is the diffusion loss through the UNet.
    recipe = make(models, dataset, tmp_path, "align",
                  loss={"teacher_chunks": 1, "mse_weight": 0.0, "cosine_weight": 0.0, "diffusion_weight": 1.0})
    unet_before = snapshot(recipe.pipeline.unet)
    adapter_before = snapshot(recipe.models["adapter"])
    recipe.train()
    recipe.cleanup()
    scalars = recipe.last_scalars
    assert scalars["diffusion"] > 0 and scalars["loss"] == pytest.approx(scalars["diffusion"])
    assert not changed(unet_before, recipe.pipeline.unet)
    trainable = {n for n, p in recipe.models["adapter"].named_parameters() if p.requires_grad}
    assert changed(adapter_before, recipe.models["adapter"]) == trainable


def test_align_overfits_eight_examples(models, dataset, tmp_path):
    recipe = make(models, dataset, tmp_path, "align", train={"max_steps": 300, "batch_size": 8},
                  optim={"lr": 3e-3, "warmup_steps": 10}, checkpoint={"save_final": False})
    losses = []
    recipe.callbacks.append(lambda r, step: losses.append(r.last_scalars["loss"]))
    target = {}

    def stop_when_halved(r, step):
        if step == 1:
            target["half"] = losses[0] / 2
        if losses[-1] < target["half"]:
            r.config.train.max_steps = step  # ends the loop after this step

    recipe.callbacks.append(stop_when_halved)
    recipe.train()
    recipe.cleanup()
    print(f"align overfit: loss {losses[0]:.4f} -> {losses[-1]:.4f} in {len(losses)} steps")
    assert losses[-1] < losses[0] / 2 and len(losses) <= 300


def test_end_to_end_with_unet_and_llm_lora(models, dataset, tmp_path):
    recipe = make(models, dataset, tmp_path, "end_to_end",
                  train={"components": ["adapter", "unet", "llm"], "unet_lora_rank": 4, "llm_lora_rank": 4,
                         "caption_dropout": 0.25, "ema_decay": 0.9},
                  data={"text_fields": ["translation"], "resolution": 16}, log={"sample_every_steps": 3})
    unet, llm, vae = recipe.models["unet"], recipe.models["llm"], recipe.pipeline.vae
    before = {"unet": snapshot(unet), "llm": snapshot(llm), "vae": snapshot(vae), "adapter": snapshot(recipe.models["adapter"])}
    recipe.train()
    recipe.cleanup()
    assert not changed(before["vae"], vae)
    for name, module in (("unet", unet), ("llm", llm)):
        moved = changed(before[name], module)
        assert moved and all("lora" in key for key in moved), f"{name}: only LoRA weights may change"
        assert {n for n, p in module.named_parameters() if p.requires_grad} <= {k for k in before[name] if "lora" in k}
    assert changed(before["adapter"], recipe.models["adapter"])

    from diffusers import UNet2DConditionModel

    from llmdiff.pipeline import LLMDiffusionPipeline

    out = tmp_path / "run"
    merged = UNet2DConditionModel.from_pretrained(out / "base" / "unet")
    original = UNet2DConditionModel.from_pretrained(models["sd"] / "unet")
    assert not any("lora" in key for key in merged.state_dict())
    assert not torch.equal(merged.state_dict()["down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight"],
                           original.state_dict()["down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight"])
    # Only the LoRA travels with the adapter (safetensors), not a copy of the LLM; loading merges it.
    assert not (out / "llm").exists()
    assert sorted(p.name for p in (out / "adapter" / "llm_lora").iterdir()) == ["adapter_config.json",
                                                                              "adapter_model.safetensors"]
    import json

    recorded = json.loads((out / "adapter" / "llm_lora" / "adapter_config.json").read_text())
    assert recorded["base_model_name_or_path"] == str(models["llm"].resolve())  # as the run named it, no cache path
    pipe = LLMDiffusionPipeline.from_pretrained(base=out / "base", adapter=out / "adapter")
    assert pipe.text_encoder.lora == str((out / "adapter" / "llm_lora").resolve())
    assert pipe("ein roter Kreis", num_inference_steps=2, height=16, width=16, seed=0, progress=False).images


@pytest.mark.parametrize("stage", ["end_to_end", "quality"])
def test_full_unet_stages(models, dataset, tmp_path, stage):
    recipe = make(models, dataset, tmp_path, stage, train={"max_steps": 2, "batch_size": 2},
                  optim={"lr": 1e-4, "unet_lr": 1e-5}, loss={"min_snr_gamma": 5.0})
    before = {"unet": snapshot(recipe.models["unet"]), "llm": snapshot(recipe.encoder), "vae": snapshot(recipe.pipeline.vae)}
    recipe.train()
    recipe.cleanup()
    assert changed(before["unet"], recipe.models["unet"])
    assert not changed(before["llm"], recipe.encoder) and not changed(before["vae"], recipe.pipeline.vae)
    assert [group["lr"] for group in recipe.optimizer.param_groups] == [1e-4, 1e-5]
    assert (tmp_path / "run" / "base" / "model_index.json").is_file()


def test_base_unet_and_clip_load_in_stock_diffusers(models, dataset, tmp_path):
    recipe = make(models, dataset, tmp_path, "base", train={"components": ["unet", "text_encoder"], "max_steps": 2},
                  model={"reinit": ["unet"]}, log={"sample_every_steps": 2})
    vae_before = snapshot(recipe.pipeline.vae)
    clip_before = snapshot(recipe.pipeline.text_encoder)
    recipe.train()
    recipe.cleanup()
    assert not changed(vae_before, recipe.pipeline.vae)
    assert changed(clip_before, recipe.pipeline.text_encoder)

    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(tmp_path / "run" / "base", safety_checker=None)
    assert pipe("a red circle", num_inference_steps=2, height=16, width=16).images[0].size == (16, 16)
    assert (tmp_path / "run" / "samples" / "step-000002.png").is_file()


def test_base_holds_the_clip_encoder_still_for_its_hold_steps(models, dataset, tmp_path):
    recipe = make(models, dataset, tmp_path, "base", train={"components": ["unet", "text_encoder"], "max_steps": 2},
                  model={"reinit": ["unet", "text_encoder"]},
                  optim={"text_encoder_hold_steps": 2, "text_encoder_lr": 1e-3, "unet_lr": 5e-4})
    clip_before = snapshot(recipe.pipeline.text_encoder)
    unet_before = snapshot(recipe.pipeline.unet)
    recipe.train()
    recipe.cleanup()
    assert not changed(clip_before, recipe.pipeline.text_encoder)
    assert changed(unet_before, recipe.pipeline.unet)
    assert sorted(group["initial_lr"] for group in recipe.optimizer.param_groups) == [5e-4, 1e-3]


def test_held_schedule_is_zero_then_the_schedule():
    from llmdiff.training.recipe import held, lr_lambda

    schedule = lr_lambda("cosine", warmup=2, total=10)
    factor = held(schedule, 3)
    assert [factor(step) for step in range(3)] == [0.0, 0.0, 0.0]
    assert [factor(step) for step in range(3, 10)] == [schedule(step) for step in range(3, 10)]
    assert held(schedule, 0) is schedule


def test_base_vae_sets_its_scaling_factor(models, dataset, tmp_path):
    recipe = make(models, dataset, tmp_path, "base", train={"components": ["vae"], "max_steps": 2})
    before = snapshot(recipe.pipeline.vae)
    unet_before = snapshot(recipe.pipeline.unet)
    recipe.train()
    recipe.cleanup()
    assert changed(before, recipe.pipeline.vae) and not changed(unet_before, recipe.pipeline.unet)
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(tmp_path / "run" / "base" / "vae")
    assert vae.config.scaling_factor != 0.18215 and math.isfinite(vae.config.scaling_factor)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(models, dataset, tmp_path):
    recipe = make(models, dataset, tmp_path, "align", train={"max_steps": 6}, checkpoint={"every_steps": 2})

    def poison(r, step):
        if step == 3:
            with torch.no_grad():
                r.models["adapter"].output_proj.weight.fill_(float("nan"))

    recipe.callbacks.append(poison)
    with pytest.raises(TrainingDiverged, match="the loss became nan at step 4.*step-000002"):
        recipe.train()
    recipe.cleanup()
    assert recipe.checkpoints.latest().name == "step-000002"


def test_unreadable_images_are_skipped_then_stop_the_run(models, tmp_path):
    broken = write_dataset(tmp_path / "broken", corrupt=2)
    recipe = make(models, broken, tmp_path, "end_to_end", train={"max_steps": 2, "batch_size": 4, "components": ["adapter"]},
                  data={"max_corrupt_fraction": 0.5})
    recipe.train()
    recipe.cleanup()
    assert recipe.images.corrupt == 2 and recipe.images.seen == 8
    strict = make(models, broken, tmp_path / "strict", "end_to_end",
                  train={"max_steps": 2, "batch_size": 4, "components": ["adapter"]}, data={"max_corrupt_fraction": 0.1})
    with pytest.raises(CorruptImageError, match="images could not be read"):
        strict.train()
    strict.cleanup()


def test_adamw_is_fused_where_the_kernel_exists():
    import torch

    from llmdiff.training.recipe import fused_adamw_supported

    assert fused_adamw_supported([{"params": [torch.nn.Parameter(torch.zeros(3))]}])
    assert not fused_adamw_supported([{"params": [torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))]}])
    assert not fused_adamw_supported([{"params": []}])


def test_a_run_out_of_minutes_stops_with_a_checkpoint_and_its_export(models, dataset, tmp_path, capsys):
    import time

    recipe = make(models, dataset, tmp_path, "align", train={"max_steps": 500, "max_minutes": 0.6 / 60})
    recipe.callbacks.append(lambda _recipe, _step: time.sleep(0.2))  # steps slow enough to outlast 0.6 s
    recipe.train()
    recipe.cleanup()
    assert 1 <= recipe.step < 500
    assert recipe.checkpoints.latest() == recipe.checkpoints.step_dir(recipe.step)
    assert (tmp_path / "run" / "adapter" / "diffusion_pytorch_model.safetensors").is_file()
    assert f"stopping at step {recipe.step} of 500: train.max_minutes" in capsys.readouterr().out


def test_an_export_replaces_the_last_one_only_whole_and_with_the_usual_modes(models, dataset, tmp_path):
    import os

    recipe = make(models, dataset, tmp_path, "end_to_end", train={"max_steps": 1, "batch_size": 2},
                  optim={"lr": 1e-4, "unet_lr": 1e-5})
    recipe.train()
    recipe.cleanup()
    out = tmp_path / "run"
    weights = [out / "adapter" / "diffusion_pytorch_model.safetensors",
               out / "base" / "unet" / "diffusion_pytorch_model.safetensors"]
    mask = os.umask(0)
    os.umask(mask)
    for path in weights:  # safetensors writes private files; a model folder is meant to be shared
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask
    assert (out / "adapter").stat().st_mode & 0o777 == 0o777 & ~mask
    before = {path: path.read_bytes() for path in weights}

    def crash_half_way(directory):
        (directory / "adapter").mkdir()
        (directory / "adapter" / "config.json").write_text("{")
        raise RuntimeError("disk full")

    recipe.export = crash_half_way
    with pytest.raises(RuntimeError, match="disk full"):
        recipe.publish_export()
    assert {path: path.read_bytes() for path in weights} == before
    assert (out / "adapter" / "config.json").read_text().startswith("{\n")
    assert [path.name for path in out.iterdir() if path.name.startswith(".")] == []
