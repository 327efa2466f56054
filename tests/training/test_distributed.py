"""Stage 2 over two CPU processes with DeepSpeed ZeRO-2 (gloo), and FSDP's refusal on CPU processes.

Launched as in test_ddp.py: `accelerate launch` with a config file starts two processes running
`llmdiff train`. DeepSpeed needs its extra (`pip install -e '.[deepspeed]'`); without it that test skips.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from conftest import tiny_config
from safetensors.torch import load_file

from llmdiff.errors import UserError

ACCELERATE_CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "accelerate"
cpu_only = pytest.mark.skipif(torch.cuda.is_available(), reason="what CPU processes do; a GPU machine runs FSDP")


def launch(config: dict, tmp_path: Path, port: int, *options: str) -> subprocess.CompletedProcess:
    path = tmp_path / f"config-{port}.yaml"
    path.write_text(yaml.safe_dump(config))
    accelerate = shutil.which("accelerate", path=os.path.dirname(sys.executable)) or "accelerate"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [accelerate, "launch", *options, "--num_processes", "2", "--main_process_port", str(port),
         "-m", "llmdiff", "train", str(path)],
        capture_output=True, text=True, env=env, timeout=300,
    )


def stage2(models, dataset, output):
    return tiny_config(models, dataset, output, "end_to_end",
                       train={"max_steps": 2, "batch_size": 2, "components": ["adapter", "unet"]},
                       optim={"lr": 1e-3, "unet_lr": 1e-4})


def test_deepspeed_zero2_on_two_cpu_processes_matches_ddp(models, dataset, tmp_path):
    pytest.importorskip("deepspeed")
    zero = launch(stage2(models, dataset, tmp_path / "zero"), tmp_path, 29531,
                  "--config_file", str(ACCELERATE_CONFIGS / "deepspeed_zero2_cpu.yaml"))
    assert zero.returncode == 0, zero.stderr[-3000:]
    checkpoint = tmp_path / "zero" / "checkpoints" / "step-000002"
    # ZeRO-2: each process holds its own shard of the optimizer state.
    shards = sorted(p.name for p in (checkpoint / "pytorch_model").glob("zero_pp_rank_*_optim_states.pt"))
    assert shards == ["zero_pp_rank_0_mp_rank_00_optim_states.pt", "zero_pp_rank_1_mp_rank_00_optim_states.pt"]
    ddp = launch(stage2(models, dataset, tmp_path / "ddp"), tmp_path, 29532,
                 "--multi_gpu", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no")
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    start = load_file(models["sd"] / "unet" / "diffusion_pytorch_model.safetensors")
    for part in ("adapter/diffusion_pytorch_model.safetensors", "base/unet/diffusion_pytorch_model.safetensors"):
        sharded, replicated = load_file(tmp_path / "zero" / part), load_file(tmp_path / "ddp" / part)
        assert sharded.keys() == replicated.keys()
        for key, value in replicated.items():
            torch.testing.assert_close(sharded[key], value, rtol=1e-5, atol=1e-6, msg=f"{part}: {key}")
    unet = load_file(tmp_path / "zero" / "base/unet/diffusion_pytorch_model.safetensors")
    assert any(not torch.equal(unet[key], start[key]) for key in start)  # it trained


def test_deepspeed_bf16_autocasts_what_it_does_not_cast(models, dataset, tmp_path):
    """DeepSpeed casts the modules it trains to bf16, not the frozen LLM and VAE nor the latents: the step
    runs under autocast, or the first matrix product mixes dtypes."""
    pytest.importorskip("deepspeed")
    config = stage2(models, dataset, tmp_path / "zero")
    config["train"]["mixed_precision"] = "bf16"
    zero = launch(config, tmp_path, 29534, "--config_file", str(ACCELERATE_CONFIGS / "deepspeed_zero2_cpu.yaml"))
    assert zero.returncode == 0, zero.stderr[-3000:]
    start = load_file(models["sd"] / "unet" / "diffusion_pytorch_model.safetensors")
    unet = load_file(tmp_path / "zero" / "base/unet/diffusion_pytorch_model.safetensors")
    assert {value.dtype for value in unet.values()} == {torch.bfloat16}  # DeepSpeed's bf16 module weights
    assert any(not torch.equal(unet[key], start[key].to(torch.bfloat16)) for key in start)


@cpu_only
def test_fsdp_on_cpu_processes_is_refused_in_one_line(models, dataset, tmp_path):
    done = launch(stage2(models, dataset, tmp_path / "fsdp"), tmp_path, 29533,
                  "--config_file", str(ACCELERATE_CONFIGS / "fsdp.yaml"))
    assert done.returncode != 0
    refusal = "llmdiff train: error: FSDP needs GPUs: accelerate 1.16 does not shard over CPU processes"
    # Each process refuses; the launcher may stop the second before it writes its line once the first has exited.
    assert sum(line.startswith(refusal) for line in done.stderr.splitlines()) in (1, 2), done.stderr[-3000:]
    assert "Traceback" not in done.stderr.split(refusal)[0]
    assert not (tmp_path / "fsdp" / "checkpoints").exists()


@cpu_only
def test_what_accelerate_does_with_fsdp_on_cpu(monkeypatch):
    """The facts the refusal rests on, so a newer accelerate that shards on CPU shows up here."""
    from accelerate.utils import FullyShardedDataParallelPlugin

    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    # FSDP1 as configs/accelerate/fsdp.yaml sets it up: its plugin refuses CPU processes.
    monkeypatch.setenv("FSDP_VERSION", "1")
    monkeypatch.setenv("FSDP_SYNC_MODULE_STATES", "true")
    with pytest.raises(RuntimeError, match="sync_module_states=True` is not supported on cpu"):
        FullyShardedDataParallelPlugin()
    from llmdiff.training.distributed import launch_mode, make_accelerator

    assert launch_mode() == "fsdp"
    with pytest.raises(UserError, match="FSDP needs GPUs"):
        make_accelerator(None)


def test_deepspeed_refuses_train_grad_accum(monkeypatch):
    from llmdiff.training.config import TrainConfig
    from llmdiff.training.distributed import make_accelerator

    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")

    class Run:
        train = TrainConfig(grad_accum=2)

    with pytest.raises(UserError, match="train.grad_accum > 1 with DeepSpeed"):
        make_accelerator(Run())
