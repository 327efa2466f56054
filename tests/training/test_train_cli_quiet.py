"""`llmdiff train` prints its own lines, not other libraries' bars and notices."""

import os
import re
import subprocess
import sys

import yaml

from conftest import tiny_config

NOISE = ("Loading pipeline components", "Loading weights", "Setting accelerator to CPU", "[transformers]", "\r")


def test_train_prints_no_loading_bars_or_device_notices(models, dataset, tmp_path):
    """Into a pipe (a log file, a job's output) progress is a line every `log.every_steps` steps, not a bar."""
    config = tmp_path / "run.yaml"
    settings = tiny_config(models, dataset, tmp_path / "run", log={"progress": True, "every_steps": 2})
    config.write_text(yaml.safe_dump(settings))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for name in ("TRANSFORMERS_VERBOSITY", "DIFFUSERS_VERBOSITY", "HF_HUB_DISABLE_PROGRESS_BARS"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-m", "llmdiff", "train", str(config)], capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    output = done.stdout + done.stderr
    assert not [noise for noise in NOISE if noise in output], output[-2000:]
    assert f"trained stage align: {tmp_path / 'run'}" in done.stdout
    progress = [line for line in done.stderr.splitlines() if line.startswith("train step")]
    assert [line.split(":")[0] for line in progress] == ["train step 2/3", "train step 3/3"], done.stderr
    assert all(re.fullmatch(r"train step \d/3: loss \d\S*, lr \S+, \d+\.\d samples/s, \d+\.\d\d s/step, \d+\.\d s left",
                            line) for line in progress), progress
