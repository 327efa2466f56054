"""The demo's oracle verdict: the true render of the example scene is all correct, a blank image is not."""

import importlib.util
import json
from pathlib import Path

import pytest
from PIL import Image

from llmdiff.defaults import default_model_dir
from llmdiff.worlds.shapes import WorldConfig, render, sample_scene

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo():
    if default_model_dir() is None:
        pytest.skip("no default model installed")
    spec = importlib.util.spec_from_file_location("demo", ROOT / "scripts" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_verdict_reads_the_example_scene(demo, tmp_path):
    world = json.loads((default_model_dir() / "world.json").read_text(encoding="utf-8"))["world"]
    config = WorldConfig.from_dict(world)
    scene = sample_scene(json.loads((ROOT / "examples" / "scene.json").read_text())["seed"], config)
    truth = tmp_path / "truth.png"
    render(scene, config).save(truth)
    blank = tmp_path / "blank.png"
    Image.new("RGB", (config.resolution, config.resolution), (255, 255, 255)).save(blank)
    count = len(scene.objects)
    assert demo.verdict(truth) == (f"truth.png: {count} of {count} objects drawn with the right shape, colour and "
                                   "cell (oracle recall 1.00); all correct: yes")
    assert demo.verdict(blank).startswith(f"blank.png: 0 of {count} objects")
    assert demo.verdict(blank).endswith("all correct: no")
