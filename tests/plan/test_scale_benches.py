"""The scale benchmarks' dry runs: tiny widths on the CPU, the same code paths as the full-size runs."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cpu_scale_step_dry_run_matches_the_plan(tmp_path):
    result = _load("scale").main(["--dry-run", "--json", str(tmp_path / "scale.json")])
    assert result["weights_bytes"] == result["predicted_weights_bytes"]  # the plan counts what the step holds
    # AdamW's two float32 states per trainable weight (plus one step counter per tensor)
    assert abs(result["optimizer_bytes"] - result["predicted_optimizer_bytes"]) < 0.01 * result["optimizer_bytes"]
    assert result["trainable"]["unet"] > 0 and result["trainable"]["llm"] == 0 and result["step_seconds"] > 0
    assert (tmp_path / "scale.json").is_file()


def test_gpu_scale_dry_run_reports_every_stage_and_generation(tmp_path):
    results = _load("gpu_scale").main(["--dry-run", "--json", str(tmp_path / "gpu.json")])
    assert [r.get("stage", r.get("generation")) for r in results] == [
        "stage 1: connector", "stage 2: connector + UNet", "stage 2 + LLM LoRA 16", "LLM on the GPU", "LLM offloaded"]
    stage1, stage2, lora = results[:3]
    assert stage1["trainable"] < stage2["trainable"] < lora["trainable"]
    assert all(r["steps_per_second"] > 0 for r in results[:3]) and all(r["seconds_per_image"] > 0 for r in results[3:])


def test_gpu_scale_script_help():
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(ROOT / "bench/gpu_scale.sh"), "--help"], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and "--dry-run" in done.stdout
