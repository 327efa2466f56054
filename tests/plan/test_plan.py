"""`llmdiff plan` on tiny configs: parameters follow the config, memory per strategy, CLI paths."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from llmdiff.cli.main import main as cli
from llmdiff.errors import UserError
from llmdiff.plan import make_plan
from llmdiff.plan.memory import GiB
from llmdiff.training.config import load_config

ROOT = Path(__file__).resolve().parents[2]
TINY_ADAPTER = {"hidden_dim": 32, "num_heads": 4, "num_layers": 1, "mlp_ratio": 2.0, "num_queries": 16}


def tiny_config(tiny_models, tmp_path, **train) -> Path:
    (tmp_path / "data.jsonl").write_text('{"id": "a", "caption": "x", "image": "a.png"}\n')
    config = {
        "stage": "end_to_end",
        "model": {"base": str(tiny_models["sd"]), "llm": str(tiny_models["llama"]), "adapter_config": TINY_ADAPTER},
        "data": {"train": [str(tmp_path / "data.jsonl")], "resolution": 32},
        "train": {"batch_size": 2, "components": ["adapter", "unet"], **train},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_trainable_parameters_follow_components_and_lora(tiny_models, tmp_path):
    full = make_plan(load_config(tiny_config(tiny_models, tmp_path)))
    by_name = {c.name: c for c in full.components}
    assert by_name["unet"].trainable == by_name["unet"].parameters > 0
    assert by_name["llm"].trainable == 0 and by_name["vae"].trainable == 0
    lora = make_plan(load_config(tiny_config(tiny_models, tmp_path, unet_lora_rank=4, components=["adapter", "unet", "llm"],
                                             llm_lora_rank=2)))
    by_name = {c.name: c for c in lora.components}
    unet = by_name["unet"]
    # rank 4 on to_q/to_k/to_v/to_out.0: r·(in + out) per projection; the base UNet stays frozen.
    assert 0 < unet.trainable < unet.parameters and unet.lora_rank == 4
    assert unet.parameters - unet.trainable == full.components[2].parameters
    assert 0 < by_name["llm"].trainable < by_name["llm"].parameters and by_name["llm"].held_dtype == "float32"


def test_memory_per_strategy(tiny_models, tmp_path):
    plan = make_plan(load_config(tiny_config(tiny_models, tmp_path, mixed_precision="bf16")), gpus=4)
    trainable = sum(c.trainable for c in plan.components)
    ddp, zero2, zero3 = plan.memory["ddp"], plan.memory["zero2"], plan.memory["zero3"]
    assert ddp.gradients == trainable * 8  # float32 gradients + DDP's bucket copy
    assert ddp.optimizer == trainable * 8 and ddp.master_weights == 0
    assert zero2.optimizer == trainable * 8 // 4 and zero2.master_weights == trainable * 4 // 4
    assert zero3.weights < zero2.weights < ddp.weights
    assert plan.activations.with_checkpointing < plan.activations.without_checkpointing


def _kept_by_forward(config, models, checkpointing: bool) -> int:
    """Bytes a real CPU forward pass leaves allocated, its output aside (torch's profiler)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from llmdiff.plan.activations import forward_pass

    unet = models.get("unet").module
    unet.enable_gradient_checkpointing() if checkpointing else unet.disable_gradient_checkpointing()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        output = forward_pass(config, models, torch.float32, "cpu")
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    return sum(e.nbytes() for e in events) - output.untyped_storage().nbytes()


def test_activation_estimate_against_a_measured_cpu_forward(tiny_models, tmp_path):
    """The meta trace against a real CPU forward pass of the same models at the same sizes: what stays
    allocated for backward, with and without gradient checkpointing, within 10%."""
    import torch

    from llmdiff.adapter import LLMAdapter
    from llmdiff.loading import load_llm_model
    from llmdiff.pipeline import load_base_pipeline
    from llmdiff.plan.activations import estimate_activations
    from llmdiff.plan.components import Component, RunModels, run_models
    from llmdiff.text_encoder import _drop_unread_layers

    config = load_config(tiny_config(tiny_models, tmp_path), ["train.batch_size=4", "data.resolution=96"])
    meta = run_models(config)
    estimate = estimate_activations(config, meta)
    pipeline, info = load_base_pipeline(str(tiny_models["sd"]))
    llm = load_llm_model(str(tiny_models["llama"])).requires_grad_(False)
    layers = llm.config.num_hidden_layers
    _drop_unread_layers(llm, layers - 1, layers)  # as the encoder does for the default penultimate layer
    adapter = LLMAdapter(llm_dim=llm.config.hidden_size, cond_dim=info.cond_dim, **TINY_ADAPTER)
    real = RunModels([Component("llm", llm, False, torch.float32), Component("adapter", adapter, True, torch.float32),
                      Component("unet", pipeline.unet.requires_grad_(True), True, torch.float32)],
                     meta.info, meta.latent_channels, meta.latent_scale, meta.text_length)
    assert estimate.without_checkpointing > 50 * 2**20  # large enough that allocator noise cannot decide it
    plain = _kept_by_forward(config, real, checkpointing=False) / estimate.without_checkpointing
    # With checkpointing the forward pass keeps the blocks' inputs; the largest block comes back in backward.
    kept = estimate.with_checkpointing - estimate.largest_block
    checkpointed = _kept_by_forward(config, real, checkpointing=True) / kept
    print(f"measured / estimated: {plain:.3f} without checkpointing, {checkpointed:.3f} with it")
    assert 0.9 <= plain <= 1.1 and 0.9 <= checkpointed <= 1.1


def test_cli_plan_text_json_and_accelerate_config(tiny_models, tmp_path, capsys):
    config = tiny_config(tiny_models, tmp_path)
    assert cli(["plan", str(config), "--gpus", "2", "--gpu-memory", "24"]) == 0
    out = capsys.readouterr().out
    assert "unet" in out and "ZeRO-2" in out and "fits in 24 GiB" in out
    accelerate = ROOT / "configs/accelerate/deepspeed_zero2.yaml"
    assert cli(["plan", str(config), "train.batch_size=3", "--accelerate-config", str(accelerate), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["strategy"] == "zero2" and data["gpus"] == 8 and data["batch_size"] == 3
    assert data["memory"]["zero2"]["fits"] is True
    assert data["memory"]["zero2"]["total"] < 24 * GiB


def test_cli_plan_help_and_errors(tiny_models, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli(["plan", "--help"])
    assert exit_info.value.code == 0 and "--gpu-memory" in capsys.readouterr().out
    config = tiny_config(tiny_models, tmp_path)
    assert cli(["plan", str(config), "model.llm=someone/unknown-llm"]) == 2
    assert "no configs are shipped" in capsys.readouterr().err
    assert cli(["plan", str(config), "--gpu-memory", "0"]) == 2
    assert cli(["plan", str(config), "--accelerate-config", str(tmp_path / "none.yaml")]) == 2


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "configs/published").glob("*.yaml")))
def test_published_configs_pass_dry_run_offline(name, tmp_path, monkeypatch, capsys):
    config = load_config(ROOT / "configs/published" / name)
    for source in config.data.train:  # the shards a user would have: empty stand-ins here
        shard = tmp_path / source.path.replace("*", "00000")
        shard.parent.mkdir(parents=True, exist_ok=True)
        shard.write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert cli(["train", str(ROOT / "configs/published" / name), "--dry-run"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["model"]["connector"] == config.model.connector
    # Each names its whole text path: settings the text encoder accepts as they stand.
    from llmdiff.text_encoder import TextEncoderConfig

    TextEncoderConfig.from_dict(config.model.text_encoder, where=name)


def test_published_config_headers_name_data_batch_resolution_and_launch():
    for path in (ROOT / "configs/published").glob("*.yaml"):
        header = "".join(line for line in path.read_text().splitlines(keepends=True) if line.startswith("#"))
        for word in ("Data:", "Batch:", "Resolution:", "Launch: accelerate launch", "Plan:   llmdiff plan"):
            assert word in header, f"{path.name} header lacks {word!r}"


def test_published_omnidiffusion_stage2_plan():
    """The real-scale plan: OmniDiffusion's connector at its published size; ZeRO-2 fits in 40 GiB, DDP does not."""
    config = load_config(ROOT / "configs/published/omnidiffusion_stage2.yaml")
    plan = make_plan(config, gpu_memory_gib=40, accelerate_config=ROOT / "configs/accelerate/deepspeed_zero2.yaml")
    by_name = {c.name: c for c in plan.components}
    assert by_name["adapter"].parameters == 487_346_688 and by_name["unet"].trainable == 2_567_463_684
    assert by_name["llm"].trainable == 0 and by_name["llm"].held_dtype == "bfloat16"
    assert plan.fits("zero2") and not plan.fits("ddp")


def test_base_and_cross_lingual_stages_hold_what_their_recipes_hold(tiny_models, tmp_path):
    path = tiny_config(tiny_models, tmp_path)
    base = make_plan(load_config(path, ["stage=base", "train.components=[unet,text_encoder]"]))
    by_name = {c.name: c for c in base.components}
    assert "llm" not in by_name and "adapter" not in by_name and base.text_length == 77
    assert by_name["text_encoder"].trainable == by_name["text_encoder"].parameters > 0
    # cross_lingual starts from an adapter that need not exist yet: planned fresh, with its frozen teacher copy
    lingual = make_plan(load_config(path, ["stage=cross_lingual", "train.components=[adapter]",
                                           f"model.adapter={tmp_path / 'not-yet'}"]))
    by_name = {c.name: c for c in lingual.components}
    assert by_name["teacher_adapter"].parameters == by_name["adapter"].parameters == by_name["adapter"].trainable
    assert by_name["teacher_adapter"].trainable == 0
