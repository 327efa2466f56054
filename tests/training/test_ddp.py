"""Two processes run stage 1 with DDP on the CPU (gloo) and write a checkpoint.

`accelerate launch --cpu --num_processes 2` starts a single process in accelerate 1.x unless MPI is
installed (it hands multi-process CPU runs to mpirun), so the shipped `configs/accelerate/cpu_ddp.yaml` starts
two processes with accelerate's torch.distributed launcher (`MULTI_GPU`, which on a machine without GPUs means
multi-process) and the recipe switches accelerate to CPU DDP when it sees several processes and no GPU.
"""

import os
import shutil
import subprocess
import sys

import yaml
from conftest import tiny_config
from safetensors.torch import load_file

from llmdiff.training.checkpoint import CheckpointManager

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def test_two_process_ddp_align_writes_a_checkpoint(models, dataset, tmp_path):
    config = tiny_config(models, dataset, tmp_path / "run", "align",
                         train={"max_steps": 3, "batch_size": 2}, checkpoint={"every_steps": 2})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    accelerate = shutil.which("accelerate", path=os.path.dirname(sys.executable)) or "accelerate"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [accelerate, "launch", "--config_file", str(ROOT / "configs/accelerate/cpu_ddp.yaml"), "--main_process_port",
         "29517", "--dynamo_backend", "no", "-m", "llmdiff", "train", str(path)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    manager = CheckpointManager(tmp_path / "run" / "checkpoints")
    assert [p.name for p in manager.checkpoints()] == ["step-000002", "step-000003"]
    latest = manager.latest()
    assert latest.name == "step-000003"
    assert {"random_states_0.pkl", "random_states_1.pkl", "generator_0.safetensors", "generator_1.safetensors"} <= {
        p.name for p in latest.iterdir()}
    state = yaml.safe_load((latest / "trainer_state.json").read_text())
    assert state["num_processes"] == 2 and state["data"] == {"epoch": 1, "index": 4}  # 3 steps × 2 × 2 of 8
    assert load_file(latest / "model.safetensors")
    assert (tmp_path / "run" / "adapter" / "diffusion_pytorch_model.safetensors").is_file()
