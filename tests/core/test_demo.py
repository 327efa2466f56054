"""The demo's example: its paragraphs are its scene's, and the oracle verdict on the true render of that
scene is all correct, on a blank image not."""

from pathlib import Path

import pytest
from PIL import Image

from llmdiff.defaults import default_model_dir
from llmdiff.worlds.shapes import caption_record, render

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(load_script):
    if default_model_dir() is None:
        pytest.skip("no default model installed")
    return load_script("demo")


@pytest.mark.parametrize("language", ["en", "zh"])
def test_example_paragraphs_describe_the_example_scene(demo, language):
    scene, _ = demo.example_scene()
    text = (ROOT / "examples" / f"paragraph_{language}.txt").read_text(encoding="utf-8").strip()
    assert text == caption_record(scene, "paragraph", language, seed=scene.seed).text


def test_verdict_reads_the_example_scene(demo, tmp_path):
    scene, config = demo.example_scene()
    truth = tmp_path / "truth.png"
    render(scene, config).save(truth)
    blank = tmp_path / "blank.png"
    Image.new("RGB", (config.resolution, config.resolution), (255, 255, 255)).save(blank)
    count = len(scene.objects)
    assert demo.verdict(truth, scene, config) == (
        f"truth.png: {count} of {count} objects drawn with the right shape, colour and cell (oracle recall 1.00); "
        "all correct: yes"
    )
    assert demo.verdict(blank, scene, config).startswith(f"blank.png: 0 of {count} objects")
    assert demo.verdict(blank, scene, config).endswith("all correct: no")
