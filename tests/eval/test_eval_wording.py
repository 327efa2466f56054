"""The held-out wording columns, checked with stand-in models whose behaviour is known exactly."""

import json

from llmdiff.cli.main import main
from llmdiff.eval.shapes import ShapesEvalConfig, write_results
from llmdiff.eval.wording import evaluate_wording, format_wording, wording_conditions
from llmdiff.worlds.shapes import Scene, SceneObject, WorldConfig, render, sample_scene
from llmdiff.worlds.shapes.heldout import KINDS, heldout_caption

WORLD = WorldConfig()
CONFIG = ShapesEvalConfig(num_scenes=12, first_seed=20_000, languages=(), wording=("en", "fr"), batch_size=5)


def captions():
    """Prompt -> (scene, negated things) for every column of CONFIG."""
    lookup = {}
    for seed in range(CONFIG.first_seed, CONFIG.first_seed + CONFIG.num_scenes):
        scene = sample_scene(seed, WORLD)
        for condition in wording_conditions(CONFIG.wording):
            record = heldout_caption(scene, condition.kind, condition.language, seed, WORLD)
            lookup[record.text] = (scene, record.negated)
    return lookup


def with_negated(scene, negated):
    """The scene plus each negated thing drawn in an empty cell: a model that draws every noun it reads."""
    empty = [(r, c) for r in range(scene.grid) for c in range(scene.grid) if scene.at(r, c) is None]
    extra = []
    for (shape, colour), (row, col) in zip(negated, empty):
        extra.append(SceneObject(shape or "circle", colour or "red", "large", row, col))
    return Scene(scene.background, scene.objects + tuple(extra), scene.grid)


def test_columns_are_every_kind_in_every_language():
    assert [c.name for c in wording_conditions(("en", "fr"))] == [f"{k}-{l}" for l in ("en", "fr") for k in KINDS]


def test_a_faithful_model_scores_one_and_leaves_negated_things_out():
    lookup = captions()
    cells = evaluate_wording(lambda prompts, seeds: [render(lookup[p][0], WORLD) for p in prompts], CONFIG)
    assert list(cells) == [c.name for c in wording_conditions(CONFIG.wording)]
    for name, cell in cells.items():
        summary = cell.summary()
        assert summary["scenes"] == 12 and summary["recall"] == 1.0 and summary["all_correct"] == 1.0, name
    negation = cells["negation-en"].summary()
    assert negation["negations"] >= 12
    assert negation["negated_absent"] == 1.0 and negation["negated_absent_unsaid"] == 1.0


def test_a_model_that_draws_what_is_negated_is_caught(tmp_path):
    lookup = captions()

    def literal(prompts, seeds):
        return [render(with_negated(*lookup[p]), WORLD) for p in prompts]

    cells = evaluate_wording(literal, CONFIG)
    negation = cells["negation-en"].summary()
    assert negation["recall"] == 1.0  # every described object is there ...
    assert negation["negated_absent"] == 0.0  # ... and so is every negated one
    assert negation["negated_absent_unsaid"] == 1.0  # which it leaves out when nobody mentions it
    assert negation["all_correct"] == 0.0
    assert cells["frames-en"].summary()["all_correct"] == 1.0
    table = {"literal": {name: cell.summary() for name, cell in cells.items()}}
    row = format_wording(table).splitlines()[-1]
    assert row.startswith("| literal | 1.000 / 1.000 |") and "1.000 / 0.000 / 0.000 (1.000)" in row
    json_path, markdown_path = write_results({}, CONFIG, tmp_path, wording=table)
    assert json.loads(json_path.read_text())["wording"]["literal"]["negation-fr"]["negated_absent"] == 0.0
    assert "In words it never saw" in markdown_path.read_text()


def test_cli_wording_columns_and_bad_languages(tiny_models, tiny_adapter_config, tmp_path, capsys):
    import shutil

    from llmdiff.pipeline import LLMDiffusionPipeline

    assert main(["eval", "shapes", "--clip", f"x={tmp_path}", "--wording", "en,ja", "-o", str(tmp_path / "o")]) == 2
    assert "no held-out wording for language 'ja'" in capsys.readouterr().err
    model = tmp_path / "model"
    shutil.copytree(tiny_models["sd"], model / "base")
    pipe = LLMDiffusionPipeline.from_pretrained(base=tiny_models["sd"], llm=tiny_models["llama"],
                                                adapter_config=tiny_adapter_config)
    pipe.save_adapter(model / "adapter", llm=str(tiny_models["llama"]))
    out = tmp_path / "out"
    status = main(["eval", "shapes", "--model", f"m={model}", "--scenes", "2", "--first-seed", "5", "--languages", "",
                   "--wording", "de", "--steps", "1", "--placement-seeds", "0", "-o", str(out)])
    assert status == 0, capsys.readouterr().err
    data = json.loads((out / "shapes_eval.json").read_text())
    assert sorted(data["wording"]["m"]) == sorted(f"{kind}-de" for kind in KINDS)
    assert data["wording"]["m"]["synonyms-de"]["scenes"] == 2
    assert "negations" in data["wording"]["m"]["negation-de"]
    assert "In words it never saw" in (out / "shapes_eval.md").read_text()
