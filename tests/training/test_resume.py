"""A run killed with SIGKILL and resumed ends with the weights of an uninterrupted run; a kill while a
checkpoint is being written never leaves `latest` pointing at a broken one."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from conftest import tiny_config
from safetensors import safe_open
from safetensors.torch import load_file

from llmdiff.training.checkpoint import CheckpointManager

KILLABLE = Path(__file__).with_name("killable.py")


def run_config(models, dataset, output):
    """Stage 2 with everything that carries state: LoRA, EMA, caption dropout, accumulation, cosine LR."""
    return tiny_config(
        models, dataset, output, "end_to_end",
        train={"max_steps": 8, "batch_size": 2, "grad_accum": 2, "components": ["adapter", "unet"],
               "unet_lora_rank": 4, "ema_decay": 0.9, "caption_dropout": 0.3},
        optim={"lr": 1e-3, "schedule": "cosine", "warmup_steps": 2},
        checkpoint={"every_steps": 3, "keep_last": 2},
    )


def launch(config: dict, path: Path, *extra: str) -> subprocess.CompletedProcess:
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(KILLABLE), str(path), *extra], env=env, capture_output=True, text=True,
                          timeout=300)


def final_weights(output: Path) -> dict[str, torch.Tensor]:
    weights = {f"adapter.{k}": v for k, v in load_file(output / "adapter" / "diffusion_pytorch_model.safetensors").items()}
    weights.update({f"unet.{k}": v for k, v in load_file(output / "base" / "unet" / "diffusion_pytorch_model.safetensors").items()})
    return weights


@pytest.fixture(scope="module")
def reference(models, dataset, tmp_path_factory):
    output = tmp_path_factory.mktemp("reference")
    done = launch(run_config(models, dataset, output / "run"), output / "config.yaml")
    assert done.returncode == 0, done.stderr[-2000:]
    return final_weights(output / "run")


def assert_same(weights, reference):
    assert weights.keys() == reference.keys()
    for key, value in reference.items():
        torch.testing.assert_close(weights[key], value, rtol=0, atol=1e-6, msg=key)


@pytest.mark.parametrize(
    ("kill", "resume"),
    [("step:5", True), ("before_pointer:6", True), ("save_state:6", False), ("before_rename:6", False)],
)
def test_killed_run_resumes_to_the_same_weights(models, dataset, tmp_path, reference, kill, resume):
    """SIGKILL mid-run (step 5) or while writing the step-6 checkpoint: half-written state, complete but
    not yet renamed, renamed but `latest` not yet moved. Resuming is checked for two of them (each run
    costs seconds); `latest` for all."""
    config = run_config(models, dataset, tmp_path / "run")
    killed = launch(config, tmp_path / "config.yaml", "--kill", kill)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    manager = CheckpointManager(tmp_path / "run" / "checkpoints")
    assert manager.latest() == manager.step_dir(3)  # the checkpoint of step 6 never became `latest`
    assert manager.resolve("latest").name == "step-000003"
    # the UNet learns through LoRA: its frozen weights stay out of the checkpoint (frozen_weights.py)
    saved = set()
    for path in manager.step_dir(3).glob("model*.safetensors"):
        with safe_open(str(path), "pt") as file:
            saved |= set(file.keys())
    assert any("lora" in name for name in saved) and not any(name.endswith("conv_in.weight") for name in saved)
    if not resume:
        return
    resumed = launch(config, tmp_path / "config.yaml", "--resume", "latest")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert not list((tmp_path / "run" / "checkpoints").glob(".tmp-*"))
    assert manager.latest().name == "step-000008"
    assert_same(final_weights(tmp_path / "run"), reference)
