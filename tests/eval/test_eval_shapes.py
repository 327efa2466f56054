"""The shapes ablation harness, checked with stand-in models whose faithfulness is known exactly."""

import json

import pytest
from PIL import Image

from llmdiff.cli.main import main
from llmdiff.eval.shapes import ShapesEvalConfig, evaluate_model, format_diagnosis, format_table, write_results
from llmdiff.worlds.shapes import CLIP_WINDOW, Scene, SceneObject, WorldConfig, caption_record, clip_tokenizer, render, sample_scene
from llmdiff.worlds.shapes.tokens import mention_positions

WORLD = WorldConfig()
CONFIG = ShapesEvalConfig(num_scenes=40, first_seed=10_000, languages=("en",), batch_size=8)


def scenes_by_prompt(style: str, window: bool) -> dict[str, Scene]:
    """Prompt -> the scene a model should draw; with `window`, only objects described within 77 tokens."""
    lookup = {}
    for seed in range(CONFIG.first_seed, CONFIG.first_seed + CONFIG.num_scenes):
        scene = sample_scene(seed, WORLD)
        record = caption_record(scene, style, "en", seed=seed)
        objects = scene.objects
        if window and record.mention_spans is not None:
            _, (positions,) = mention_positions(clip_tokenizer(), [record.text], [record.mention_spans])
            objects = tuple(o for o, p in zip(scene.objects, positions) if p < CLIP_WINDOW)
        lookup[record.text] = Scene(scene.background, objects, scene.grid, seed)
    return lookup


def stand_in(window: bool):
    lookup = {**scenes_by_prompt("short", window), **scenes_by_prompt("paragraph", window)}
    return lambda prompts, seeds: [render(lookup[prompt], WORLD) for prompt in prompts]


def test_a_perfect_model_scores_one():
    cells = evaluate_model(stand_in(window=False), CONFIG)
    for name in ("short-en", "paragraph-en"):
        summary = cells[name].summary()
        assert summary["scenes"] == 40
        assert summary["recall"] == 1.0 and summary["all_correct"] == 1.0
        assert summary["recall_ci95"] == [1.0, 1.0]
        assert summary["placed"] == 1.0
        assert all(summary[f"{a}_when_placed"] == 1.0 for a in ("shape", "colour", "size"))
    assert cells["paragraph-en"].summary()["recall_after_77"] == 1.0


def test_the_diagnosis_tells_wrong_colours_from_wrong_places():
    """A model that draws every object in its cell but in the next colour: all placed, no colour right."""
    lookup = scenes_by_prompt("short", window=False)
    colours = WORLD.colours

    def recoloured(prompts, seeds):
        images = []
        for prompt in prompts:
            scene = lookup[prompt]
            objects = tuple(
                SceneObject(o.shape, colours[(colours.index(o.colour) + 1) % len(colours)], o.size, o.row, o.col)
                for o in scene.objects
            )
            images.append(render(Scene(scene.background, objects, scene.grid), WORLD))
        return images

    config = ShapesEvalConfig(num_scenes=20, first_seed=CONFIG.first_seed, languages=())
    summary = evaluate_model(recoloured, config)["short-en"].summary()
    assert summary["recall"] == 0.0
    assert summary["objects"] > 20
    assert summary["placed"] == 1.0
    assert summary["shape_when_placed"] == 1.0 and summary["size_when_placed"] == 1.0
    assert summary["colour_when_placed"] == 0.0
    assert format_diagnosis({"recoloured": {"short-en": summary}}, ["short-en"]).splitlines()[-1] == (
        "| recoloured | 1.00 / 1.00 / 0.00 / 1.00 |"
    )


def test_a_77_token_reader_misses_exactly_the_late_objects():
    cells = evaluate_model(stand_in(window=True), CONFIG)
    paragraph = cells["paragraph-en"].summary()
    assert paragraph["objects_after_77"] > 10  # the world puts objects past the window in many paragraphs
    assert paragraph["recall_after_77"] == 0.0
    assert paragraph["recall"] < 1.0
    low, high = paragraph["all_correct_ci95"]
    assert low <= paragraph["all_correct"] <= high


def test_a_blank_model_scores_zero(tmp_path):
    blank = lambda prompts, seeds: [Image.new("RGB", (64, 64), (128, 128, 128)) for _ in prompts]  # noqa: E731
    cells = evaluate_model(blank, CONFIG)
    table = {"blank": {name: cell.summary() for name, cell in cells.items()}}
    assert table["blank"]["short-en"]["recall"] == 0.0
    json_path, markdown_path = write_results(table, CONFIG, tmp_path)
    assert json.loads(json_path.read_text())["results"]["blank"]["paragraph-en"]["all_correct"] == 0.0
    markdown = markdown_path.read_text()
    assert "| blank | 0.000 [0.000, 0.000] / 0.000" in markdown
    assert "| blank | 0.00 / — / — / — | 0.00 / — / — / — |" in markdown  # nothing placed, nothing to rate
    assert format_table(table, ["short-en", "paragraph-en"]).count("\n") == 3


def test_wrong_image_size_is_refused():
    small = lambda prompts, seeds: [Image.new("RGB", (32, 32)) for _ in prompts]  # noqa: E731
    with pytest.raises(Exception, match="needs 64x64"):
        evaluate_model(small, ShapesEvalConfig(num_scenes=2, first_seed=0, languages=("en",)))


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "name at least one model"),
        (["--model", "x"], "NAME=DIR"),
        (["--model", "x=/no/such/dir"], "does not exist"),
        (["--clip", "x={tmp}", "--languages", "en,xx"], "unknown language 'xx'"),
        (["--clip", "x={tmp}", "--steps", "0"], "steps must be a positive integer"),
        (["--clip", "x={tmp}", "--freeform", "en,xx"], "unknown --freeform language 'xx'"),
    ],
)
def test_cli_bad_input(tmp_path, capsys, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(["eval", "shapes", "-o", str(tmp_path / "out"), *args]) == 2
    assert message in capsys.readouterr().err


def test_cli_runs_real_pipelines_end_to_end(tiny_models, tiny_adapter_config, tmp_path, capsys):
    """Plumbing with tiny untrained models: both kinds of row load, draw 64x64 images and get scored."""
    import shutil

    from llmdiff.pipeline import LLMDiffusionPipeline

    model = tmp_path / "stage1"
    shutil.copytree(tiny_models["sd"], model / "base")
    pipe = LLMDiffusionPipeline.from_pretrained(
        base=tiny_models["sd"], llm=tiny_models["llama"], adapter_config=tiny_adapter_config
    )
    pipe.save_adapter(model / "adapter", llm=str(tiny_models["llama"]))
    out = tmp_path / "out"
    status = main(["eval", "shapes", "--clip", f"base={tiny_models['sd']}", "--model", f"stage1={model}",
                   "--scenes", "2", "--first-seed", "5", "--languages", "en", "--steps", "2",
                   "--placement-seeds", "1", "--wording", "none", "--freeform", "de", "--world", "benchmark",
                   "-o", str(out)])
    assert status == 0, capsys.readouterr().err
    data = json.loads((out / "shapes_eval.json").read_text())
    assert data["placement"]["stage1"]["trials"] == 9  # one seed, named in each cell of the 3x3 grid
    results = data["results"]
    assert list(results) == ["base", "stage1"]
    assert results["stage1"]["paragraph-en"]["scenes"] == 2
    assert list(results["stage1"]) == ["short-en", "paragraph-en", "freeform-de"]
    assert results["base"]["freeform-de"]["scenes"] == 2 and data["config"]["freeform"] == ["de"]
    assert "freeform-de recall" in (out / "shapes_eval.md").read_text()
    assert 0.0 <= results["base"]["short-en"]["recall"] <= 1.0


def test_rows_reading_the_same_llm_share_its_encodings(tiny_models, tiny_adapter_config, tmp_path):
    """Two stage rows with one LLM: each batch runs the LLM once, and the images equal unshared ones."""
    import shutil

    import numpy as np

    from llmdiff.eval.shapes import SharedEncoders, llm_model
    from llmdiff.pipeline import LLMDiffusionPipeline

    model = tmp_path / "stage"
    shutil.copytree(tiny_models["sd"], model / "base")
    pipe = LLMDiffusionPipeline.from_pretrained(
        base=tiny_models["sd"], llm=tiny_models["llama"], adapter_config=tiny_adapter_config
    )
    pipe.save_adapter(model / "adapter", llm=str(tiny_models["llama"]))
    config = ShapesEvalConfig(num_scenes=2, first_seed=5, languages=("en",), steps=2, batch_size=2)
    encoders = SharedEncoders()
    calls = []
    first = llm_model(model, config, encoders=encoders)
    encoder = next(iter(encoders._encoders.values()))
    encoder.model.register_forward_hook(lambda *_: calls.append(1))
    prompts, seeds = ["a red circle", "two blue squares"], [1, 2]
    shared = [first(prompts, seeds), llm_model(model, config, encoders=encoders)(prompts, seeds)]
    alone = llm_model(model, config)(prompts, seeds)
    assert len(calls) == 2  # the prompts once and the empty prompt once, for both rows
    for images in shared:
        assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(images, alone))


def _model_folder(path, tiny_models, tiny_adapter_config, world=None, steps=None, guidance=None):
    """A tiny model folder; with `world`, its world.json; with steps/guidance, its generation_config.json."""
    import shutil

    from llmdiff.pipeline import GenerationDefaults, LLMDiffusionPipeline

    shutil.copytree(tiny_models["sd"], path / "base")
    pipe = LLMDiffusionPipeline.from_pretrained(
        base=tiny_models["sd"], llm=tiny_models["llama"], adapter_config=tiny_adapter_config
    )
    pipe.save_adapter(path / "adapter", llm=str(tiny_models["llama"]))
    if world is not None:
        (path / "world.json").write_text(json.dumps({"world": world.to_dict()}))
    if steps is not None:
        GenerationDefaults(steps, guidance).save(path / "adapter")
    return path


SMALL_WORLD = WorldConfig(grid=2, max_objects=3, resolution=32, supersample=2)


def test_cli_draws_in_the_models_own_world_with_its_own_settings(tiny_models, tiny_adapter_config, tmp_path, capsys):
    """No --world, --steps or --guidance: the folder's world.json and generation_config.json decide."""
    model = _model_folder(tmp_path / "m", tiny_models, tiny_adapter_config, SMALL_WORLD, steps=2, guidance=1.5)
    out = tmp_path / "out"
    status = main(["eval", "shapes", "--model", f"m={model}", "--scenes", "2", "--first-seed", "5",
                   "--languages", "en", "--placement-seeds", "1", "--wording", "none", "-o", str(out)])
    assert status == 0, capsys.readouterr().err
    data = json.loads((out / "shapes_eval.json").read_text())
    assert WorldConfig.from_dict(data["config"]["world"]) == SMALL_WORLD
    assert (data["config"]["steps"], data["config"]["guidance_scale"]) == (2, 1.5)
    assert data["placement"]["m"]["trials"] == 4  # one seed in each cell of the model's 2x2 grid
    assert "drawing a 2x2 world at 32 px, 2 steps, guidance 1.5" in capsys.readouterr().err


def test_agreed_world_and_settings(tmp_path):
    from llmdiff.errors import UserError
    from llmdiff.eval.model_settings import agreed_generation, agreed_world
    from llmdiff.pipeline import GenerationDefaults
    from llmdiff.worlds.shapes.config import DEFAULT_WORLD, load_world

    small, plain, other = tmp_path / "small", tmp_path / "plain", tmp_path / "other"
    for folder in (small, plain, other):
        (folder / "adapter").mkdir(parents=True)
    (small / "world.json").write_text(json.dumps({"world": SMALL_WORLD.to_dict()}))
    (other / "world.json").write_text(json.dumps({"world": DEFAULT_WORLD.to_dict()}))
    assert agreed_world(None, {"s": small, "p": plain}) == SMALL_WORLD
    assert agreed_world(None, {"p": plain}) == load_world(None)  # no world anywhere: the shipped model's
    assert agreed_world(None, {}) == load_world(None)
    assert agreed_world(str(small / "world.json"), {"s": small}) == SMALL_WORLD
    assert agreed_world("benchmark", {"p": plain}) == DEFAULT_WORLD
    with pytest.raises(UserError, match="model 's' was trained in another world than --world benchmark"):
        agreed_world("benchmark", {"s": small})
    with pytest.raises(UserError, match="models 's' and 'o' were trained in different worlds"):
        agreed_world(None, {"s": small, "o": other})

    GenerationDefaults(20, 2.0).save(small / "adapter")
    GenerationDefaults(20, 7.5).save(other / "adapter")
    assert agreed_generation(None, None, {}) == (30, 5.0)
    assert agreed_generation(None, None, {"s": small / "adapter"}) == (20, 2.0)
    assert agreed_generation(None, None, {"p": plain / "adapter"}) == (30, 7.5)  # the library's own defaults
    assert agreed_generation(None, 3.0, {"s": small / "adapter", "o": other / "adapter"}) == (20, 3.0)
    with pytest.raises(UserError, match="different guidance .*name --guidance"):
        agreed_generation(None, None, {"s": small / "adapter", "o": other / "adapter"})


def test_cli_refuses_a_world_the_model_was_not_trained_in(tiny_models, tmp_path, capsys):
    model = tmp_path / "m"
    (model / "adapter").mkdir(parents=True)
    (model / "base").mkdir()
    (model / "world.json").write_text(json.dumps({"world": SMALL_WORLD.to_dict()}))
    assert main(["eval", "shapes", "--model", f"m={model}", "--world", "benchmark", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "model 'm' was trained in another world than --world benchmark" in err
    assert len(err.strip().splitlines()) == 1


def test_cli_help_names_the_models_own_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["eval", "shapes", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "default: the world.json of the --model folders" in out
    assert "default: the models' own" in out


def test_freeform_columns_score_captions_as_people_write_them():
    """`freeform` columns come after the paragraphs and are scored like them: a model that draws the scene
    each freeform caption describes scores one, one that draws only what paragraphs describe does not."""
    config = ShapesEvalConfig(num_scenes=12, first_seed=10_000, languages=("en",), freeform=("en", "de"),
                              batch_size=4)
    scenes = {}
    for seed in range(config.first_seed, config.first_seed + config.num_scenes):
        scene = sample_scene(seed, WORLD)
        for style, language in (("short", "en"), ("paragraph", "en"), ("freeform", "en"), ("freeform", "de")):
            scenes[caption_record(scene, style, language, seed=seed, world=WORLD).text] = scene
    reads_everything = lambda prompts, seeds: [render(scenes[prompt], WORLD) for prompt in prompts]  # noqa: E731
    cells = evaluate_model(reads_everything, config)
    assert list(cells) == ["short-en", "paragraph-en", "freeform-en", "freeform-de"]
    assert all(cell.summary()["recall"] == 1.0 for cell in cells.values())
    freeform_texts = {caption_record(sample_scene(s, WORLD), "freeform", lang, seed=s, world=WORLD).text
                      for s in range(config.first_seed, config.first_seed + config.num_scenes) for lang in ("en", "de")}
    empty = Scene("white", (), WORLD.grid, 0)
    reads_paragraphs = lambda prompts, seeds: [  # noqa: E731
        render(empty if prompt in freeform_texts else scenes[prompt], WORLD) for prompt in prompts]
    cells = evaluate_model(reads_paragraphs, config)
    assert cells["paragraph-en"].summary()["recall"] == 1.0
    assert cells["freeform-en"].summary()["recall"] == 0.0 and cells["freeform-de"].summary()["recall"] == 0.0
