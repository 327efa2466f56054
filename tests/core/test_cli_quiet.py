"""Ordinary commands print no third-party notices; `-v` shows them."""

import os
import re
import subprocess
import sys

import pytest

from llmdiff.defaults import default_model_dir

NOTICES = ("[transformers]", "Warning", "warnings.warn")


@pytest.mark.skipif(default_model_dir() is None, reason="needs the shipped default model")
def test_generate_prints_no_third_party_notices_unless_verbose(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for name in ("TRANSFORMERS_VERBOSITY", "DIFFUSERS_VERBOSITY"):
        env.pop(name, None)
    command = [sys.executable, "-m", "llmdiff", "generate", "a red circle", "--steps", "1"]
    quiet = subprocess.run([*command, "-o", str(tmp_path / "a.png")], capture_output=True, text=True, env=env,
                           timeout=300)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert not [notice for notice in NOTICES if notice in quiet.stderr], quiet.stderr[-2000:]
    # stderr is a pipe here: no bar redrawn with \r, one line before the load and one summary after it.
    assert "\r" not in quiet.stderr and "it/s" not in quiet.stderr
    lines = quiet.stderr.splitlines()
    assert lines[0] == "loading the shipped shapes model …", lines
    assert re.fullmatch(r"1 image: 1 steps in \d+\.\d s", lines[-1]), lines
    verbose = subprocess.run([sys.executable, "-m", "llmdiff", "-v", *command[3:], "-o", str(tmp_path / "b.png")],
                             capture_output=True, text=True, env=env, timeout=300)
    assert verbose.returncode == 0
    # The notices are still there for whoever asks: torchvision is not a dependency, so transformers says so.
    assert "[transformers]" in verbose.stderr


@pytest.mark.skipif(default_model_dir() is None, reason="needs the shipped default model")
def test_llmdiffs_own_warnings_are_one_line_without_source_lines(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "llmdiff", "generate", "a red circle in the top left corner",
                           "--max-length", "4", "--steps", "1", "-o", str(tmp_path / "a.png")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    warned = [line for line in done.stderr.splitlines() if "warning" in line.lower()]
    assert len(warned) == 1, done.stderr
    assert re.fullmatch(r"llmdiff generate: warning: 1 prompt\(s\) over the 4-token limit were truncated; "
                        r"tokens dropped: \d+.*", warned[0]), warned
    assert ".py:" not in done.stderr
