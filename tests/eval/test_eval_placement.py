"""The placement check, with stand-in models whose use of the place words is known exactly."""

import json

import pytest

from llmdiff.cli.main import main
from llmdiff.eval.placement import evaluate_placement, format_placement, placement_caption, placement_scenes
from llmdiff.eval.shapes import ShapesEvalConfig, write_results
from llmdiff.worlds.shapes import Scene, SceneObject, WorldConfig, render
from llmdiff.worlds.shapes.captions.en import place

WORLDS = {
    "2x2": WorldConfig(grid=2, max_objects=3, shapes=("circle", "square", "triangle", "star"),
                       colours=("red", "green", "blue", "yellow"), resolution=32),  # the shipped model's world
    "3x3": WorldConfig(),
}
SEEDS, FIRST = 6, 2_000_000_000


def faithful(world):
    """Draws exactly the scene its prompt describes."""
    lookup = {placement_caption(s): s for group in placement_scenes(world, SEEDS, FIRST) for s in group}
    assert len(lookup) == SEEDS * world.cells  # every prompt names one scene
    return lambda prompts, seeds: [render(lookup[prompt], world) for prompt in prompts]


def top_left(world):
    """Draws the right object, always in cell (0, 0), whatever the place words say."""
    lookup = {placement_caption(s): s for group in placement_scenes(world, SEEDS, FIRST) for s in group}

    def generate(prompts, seeds):
        images = []
        for prompt in prompts:
            scene = lookup[prompt]
            (obj,) = scene.objects
            moved = SceneObject(obj.shape, obj.colour, obj.size, 0, 0)
            images.append(render(Scene(scene.background, (moved,), scene.grid), world))
        return images

    return generate


@pytest.mark.parametrize("name", WORLDS)
def test_a_model_that_follows_the_words_hits_every_cell(name):
    world = WORLDS[name]
    summary = evaluate_placement(faithful(world), world, SEEDS, FIRST, batch_size=5).summary()
    assert summary["trials"] == SEEDS * world.cells and summary["seeds"] == SEEDS
    assert summary["hit_rate"] == 1.0 and summary["hits"] == summary["trials"]
    assert summary["ignored_seeds"] == 0 and summary["ignored_share"] == 0.0
    assert summary["chance"] == 1 / world.cells


@pytest.mark.parametrize("name", WORLDS)
def test_a_model_that_ignores_the_words_scores_chance(name):
    world = WORLDS[name]
    summary = evaluate_placement(top_left(world), world, SEEDS, FIRST, batch_size=5).summary()
    assert summary["hits"] == SEEDS  # the one prompt per seed that names the top-left cell
    assert summary["hit_rate"] == pytest.approx(1 / world.cells)
    assert summary["ignored_seeds"] == SEEDS and summary["ignored_share"] == 1.0
    low, high = summary["hit_rate_ci95"]
    assert low < summary["hit_rate"] < high < 1.0


def test_a_blank_model_hits_nothing_and_ignores_the_words():
    world = WORLDS["2x2"]
    from PIL import Image

    blank = lambda prompts, seeds: [Image.new("RGB", (32, 32), (245, 245, 245)) for _ in prompts]  # noqa: E731
    summary = evaluate_placement(blank, world, 3, FIRST).summary()
    assert (summary["hits"], summary["trials"], summary["ignored_seeds"]) == (0, 12, 3)


@pytest.mark.parametrize("name", WORLDS)
def test_the_scenes_of_one_seed_differ_only_in_the_place(name):
    world = WORLDS[name]
    groups = placement_scenes(world, SEEDS, FIRST)
    assert [len(group) for group in groups] == [world.cells] * SEEDS
    assert placement_scenes(world, SEEDS, FIRST) == groups  # deterministic in the seed
    objects = set()
    for seed, group in enumerate(groups, FIRST):
        assert {scene.seed for scene in group} == {seed}
        assert len({(scene.background, scene.objects[0].shape, scene.objects[0].colour, scene.objects[0].size)
                     for scene in group}) == 1
        cells = [(row, col) for row in range(world.grid) for col in range(world.grid)]
        assert [scene.objects[0].cell for scene in group] == cells
        assert all(scene.objects[0].offset == (0.0, 0.0) for scene in group)
        objects.add(group[0].objects[0].shape + group[0].objects[0].colour)
        # Same wording in every cell: the captions differ only where the place is named.
        captions = [placement_caption(scene) for scene in group]
        places = [place(*scene.objects[0].cell, world.grid) for scene in group]
        assert all(where in text for text, where in zip(captions, places))
        assert len({text.replace(where, "PLACE") for text, where in zip(captions, places)}) == 1
        assert len(set(captions)) == world.cells
    assert len(objects) > 1  # seeds draw different objects


def test_the_table_and_json_entry(tmp_path):
    world = WORLDS["2x2"]
    placement = {
        "faithful": evaluate_placement(faithful(world), world, SEEDS, FIRST).summary(),
        "top-left": evaluate_placement(top_left(world), world, SEEDS, FIRST).summary(),
    }
    lines = format_placement(placement).splitlines()
    assert lines[2] == "| faithful | 1.000 [0.862, 1.000] (24/24) | 0.250 | 0/6 |"
    assert lines[3] == "| top-left | 0.250 [0.120, 0.449] (6/24) | 0.250 | 6/6 |"
    config = ShapesEvalConfig(world=world.to_dict(), languages=("en",))
    json_path, markdown_path = write_results({}, config, tmp_path, placement)
    data = json.loads(json_path.read_text())
    assert data["results"] == {} and data["placement"]["top-left"]["ignored_seeds"] == 6
    markdown = markdown_path.read_text()
    assert markdown.startswith("Does the layout follow the place words?") and "recall" not in markdown


def test_cli_placement_only_with_stand_ins(tmp_path, capsys, monkeypatch):
    """The stand-ins plugged in where the CLI loads models: only the placement check runs, and is written."""
    world = WORLDS["2x2"]
    world_file = tmp_path / "world.json"
    world_file.write_text(json.dumps({"world": world.to_dict()}))
    models = {"good": faithful(world), "fixed": top_left(world)}
    monkeypatch.setattr("llmdiff.eval.shapes.clip_model", lambda path, config, device: models[path.split("/")[-1]])
    monkeypatch.setattr("llmdiff.eval.shapes.evaluate_model", lambda *a, **k: pytest.fail("main table ran"))
    for name in models:
        (tmp_path / name).mkdir()
    out = tmp_path / "out"
    status = main(["eval", "shapes", "--clip", f"good={tmp_path / 'good'}", "--clip", f"fixed={tmp_path / 'fixed'}",
                   "--world", str(world_file), "--first-seed", str(FIRST), "--placement-seeds", str(SEEDS),
                   "--placement-only", "--device", "cpu", "-o", str(out)])
    assert status == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "| good | 1.000 [0.862, 1.000] (24/24) | 0.250 | 0/6 |" in printed
    assert "| fixed | 0.250 [0.120, 0.449] (6/24) | 0.250 | 6/6 |" in printed
    data = json.loads((out / "shapes_eval.json").read_text())
    assert list(data["placement"]) == ["good", "fixed"] and data["results"] == {}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--placement-seeds", "-1"], "--placement-seeds must be 0 (no placement check) or more, not -1"),
        (["--placement-seeds", "0", "--placement-only"], "leaves nothing to run"),
    ],
)
def test_cli_bad_placement_options(tmp_path, capsys, args, message):
    assert main(["eval", "shapes", "--clip", f"x={tmp_path}", "-o", str(tmp_path / "out"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
