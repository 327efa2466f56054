"""`llmdiff shapes` commands agree with the shipped model's world unless told otherwise."""

import json

import pytest
from PIL import Image

from llmdiff.cli.main import main
from llmdiff.defaults import default_model_dir
from llmdiff.worlds.shapes import WorldConfig, render, sample_scene
from llmdiff.worlds.shapes.config import DEFAULT_WORLD, load_world

needs_shipped = pytest.mark.skipif(default_model_dir() is None, reason="needs the shipped default model")


@needs_shipped
def test_the_default_world_is_the_shipped_models():
    shipped = WorldConfig.from_file(default_model_dir() / "world.json")
    assert load_world() == load_world("shipped") == load_world(default_model_dir()) == shipped
    assert shipped != DEFAULT_WORLD and load_world("benchmark") == DEFAULT_WORLD


def test_without_a_shipped_model_the_default_is_the_benchmark(monkeypatch):
    monkeypatch.setattr("llmdiff.defaults.default_model_dir", lambda: None)
    assert load_world() == DEFAULT_WORLD


@needs_shipped
def test_score_reads_the_shipped_models_images_by_default(tmp_path, capsys):
    # The shipped model draws 32x32 images; the commands used to expect the benchmark world's 64x64.
    world = load_world()
    png = tmp_path / "scene.png"
    render(sample_scene(7, world), world).save(png)
    assert main(["shapes", "score", str(png), "--seed", "7"]) == 0
    assert json.loads(capsys.readouterr().out)["all_correct"] == 1.0
    assert main(["shapes", "score", str(png), "--seed", "7", "--world", "benchmark"]) == 2
    assert "64x64" in capsys.readouterr().err


def test_a_knob_changes_only_itself(tmp_path, capsys):
    world_file = tmp_path / "world.json"
    world_file.write_text(json.dumps({"world": WorldConfig(grid=2, max_objects=2, resolution=32).to_dict()}))
    png = tmp_path / "scene.png"
    assert main(["shapes", "render", "--seed", "3", "--out", str(png), "--world", str(tmp_path),
                 "--resolution", "48"]) == 0
    expected = WorldConfig(grid=2, max_objects=2, resolution=48)
    assert Image.open(png).tobytes() == render(sample_scene(3, expected), expected).tobytes()


def test_parse_prints_what_the_oracle_sees_and_score_takes_that_scene(tmp_path, capsys):
    world = WorldConfig(grid=2, max_objects=3, resolution=32)
    scene = sample_scene(11, world)
    world_file = tmp_path / "world.json"
    world_file.write_text(json.dumps({"world": world.to_dict()}))
    png = tmp_path / "scene.png"
    render(scene, world).save(png)
    assert main(["shapes", "parse", str(png), "--world", str(world_file)]) == 0
    seen = json.loads(capsys.readouterr().out)
    assert seen["background"] == scene.background
    assert {(o["shape"], o["colour"], o["row"], o["col"]) for o in seen["objects"]} == {o.key for o in scene.objects}
    assert seen["caption"]

    # A scene written by hand: the parsed one, with one object's colour changed.
    edited = dict(seen, objects=[dict(seen["objects"][0], colour="blue" if seen["objects"][0]["colour"] != "blue"
                                      else "red"), *seen["objects"][1:]])
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    assert main(["shapes", "score", str(png), "--scene", str(tmp_path / "edited.json"), "--world", str(world_file)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["all_correct"] == 0.0
    assert metrics["recall"] == pytest.approx((len(scene.objects) - 1) / len(scene.objects))


@pytest.mark.parametrize("argv, message", [
    (["--seed", "1", "--scene", "s.json"], "not allowed with argument"),
    ([], "one of the arguments --seed --scene is required"),
    (["--scene", "missing.json"], "cannot read the scene in missing.json"),
    (["--seed", "1", "--world", "nowhere"], "world nowhere: no such file"),
])
def test_bad_score_arguments_are_one_line_errors(tmp_path, capsys, argv, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    world = load_world()
    render(sample_scene(1, world), world).save(tmp_path / "a.png")
    try:
        status = main(["shapes", "score", "a.png", *argv])
    except SystemExit as exit_info:  # argparse's own refusals
        status = exit_info.code
    assert status == 2
    error = capsys.readouterr().err
    assert message in error


def test_a_reader_that_leaves_early_is_not_an_error(monkeypatch, tmp_path):
    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError

        def flush(self):
            pass

    world = load_world()
    render(sample_scene(1, world), world).save(tmp_path / "a.png")
    monkeypatch.setattr("sys.stdout", ClosedPipe())
    assert main(["shapes", "parse", str(tmp_path / "a.png")]) == 0


def test_parse_says_so_when_the_image_shows_no_shapes(tmp_path, capsys):
    world = load_world("benchmark")
    Image.new("RGB", (world.resolution,) * 2, (20, 20, 20)).save(tmp_path / "empty.png")
    assert main(["shapes", "parse", str(tmp_path / "empty.png"), "--world", "benchmark"]) == 0
    seen = json.loads(capsys.readouterr().out)
    assert seen["objects"] == [] and seen["caption"] == "no shapes, black background"
