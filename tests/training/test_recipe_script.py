"""The shapes recipe's stage-2 rounds: each continues the one before, a larger LLM subset starts with the
smaller one (so the cached LLM states of those captions are found again), and a finished round is skipped;
stage 3's curated set holds only scenes that no round of stage 2 read."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def recipe(tmp_path, monkeypatch, load_script):
    module = load_script("train_shapes_model")
    monkeypatch.chdir(tmp_path)  # the recipe's paths are relative to its working directory
    data = tmp_path / "data" / "shapes"
    data.mkdir(parents=True)
    with open(data / "records.jsonl", "w", encoding="utf-8") as file:
        for index in range(12):
            split = "test" if index % 4 == 3 else "train"
            # Even scenes' paragraphs mention an object past CLIP's window (the curated set's kind).
            mentions = [{"clip_token": 90 if index % 2 == 0 else 20}]
            captions = {language: {"paragraph": {"text": f"{language} {index}", "mentions": mentions}}
                        for language in ("en", "de", "fr")}
            file.write(json.dumps({"key": f"{split}-{index}", "split": split, "captions": captions}) + "\n")
    commands = []

    def fake_run(command, log, name):
        commands.append((name, [str(part) for part in command]))
        if "train" in command:  # what a finished `llmdiff train` leaves behind
            out = next(part.split("=", 1)[1] for part in map(str, command) if part.startswith("output_dir="))
            (Path(out) / "adapter").mkdir(parents=True)

    monkeypatch.setattr(module, "run", fake_run)
    return module, commands


def test_a_larger_llm_subset_starts_with_the_smaller_one(recipe):
    module, _ = recipe
    preset = {"llm_scenes": 3, "llm_languages": 2}
    small = module.llm_subset(preset, 3).read_text(encoding="utf-8").splitlines()
    large = module.llm_subset(preset, 6).read_text(encoding="utf-8").splitlines()
    assert module.llm_subset(preset, 3).name == "llm_subset.jsonl"
    assert len(small) == 3 and len(large) == 6 and large[:3] == small
    records = [json.loads(line) for line in large]
    assert all(record["split"] == "train" for record in records)
    assert [sorted(record["captions"]) for record in records[:2]] == [["de", "en"], ["en", "fr"]]


def test_each_round_continues_the_one_before_and_a_finished_round_is_skipped(recipe):
    module, commands = recipe
    preset = {"llm_scenes": 3, "llm_languages": 2, "end_to_end_rounds": [
        {"scenes": 3, "overrides": ["train.max_steps=5"]},
        {"scenes": 6, "overrides": ["train.max_steps=7"]},
    ]}
    last = module.continue_stage_two(["llmdiff"], preset, {"resolution": 32}, {})
    assert last == module.RUNS / "end_to_end_3"
    trains = [command for name, command in commands if "train" in command]
    assert len(trains) == 2
    assert f"model.adapter={module.RUNS / 'end_to_end' / 'adapter'}" in trains[0]
    assert f"model.base={module.RUNS / 'end_to_end_2' / 'base'}" in trains[1]
    assert "train.max_steps=7" in trains[1] and "data.resolution=32" in trains[1]
    assert any(part.endswith("llm_subset_6.jsonl}]") for part in trains[1])
    assert [name for name, _ in commands] == ["end_to_end_2_cache", "end_to_end_2", "end_to_end_3_cache",
                                               "end_to_end_3"]

    commands.clear()
    assert module.continue_stage_two(["llmdiff"], preset, {"resolution": 32}, {}) == last
    assert commands == []


def test_the_curated_set_holds_late_object_scenes_stage_two_never_read(recipe):
    module, _ = recipe
    preset = {"llm_scenes": 2, "llm_languages": 2, "curated_languages": 2,
              "end_to_end_rounds": [{"scenes": 4, "overrides": []}]}
    out = module.DATA / "curated.jsonl"
    module.curate(preset, out, limit=10)
    stage_two = {json.loads(line)["key"] for line in module.llm_subset(preset, 4).read_text().splitlines()}
    assert stage_two == {"train-0", "train-1", "train-2", "train-4"}
    curated = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    # train scenes 5, 6, 8, 9, 10 are unseen; of those, the even ones mention a late object
    assert [record["key"] for record in curated] == ["train-6", "train-8", "train-10"]
    assert all(len(record["captions"]) == 2 and "en" in record["captions"] for record in curated)


def test_a_step_run_again_moves_to_the_end_of_the_log(tmp_path, monkeypatch, load_script):
    module = load_script("train_shapes_model")
    monkeypatch.chdir(tmp_path)
    module.RUNS.mkdir(parents=True)
    log = {}
    for name in ("quality", "eval", "end_to_end_5", "quality", "eval"):
        module.run([sys.executable, "-c", "pass"], log, name)
    assert list(log) == ["end_to_end_5", "quality", "eval"]
    assert list(json.loads((module.RUNS / "recipe.json").read_text(encoding="utf-8"))) == list(log)


def test_a_finished_eval_is_not_run_again(recipe):
    module, commands = recipe
    done = module.RUNS / "eval" / "shapes_eval.md"  # the eval writes it last
    module.run_unless_done(["llmdiff", "eval", "shapes"], {}, "eval", done)
    assert [name for name, _ in commands] == ["eval"]
    done.parent.mkdir(parents=True)
    done.write_text("| model |\n", encoding="utf-8")
    module.run_unless_done(["llmdiff", "eval", "shapes"], {}, "eval", done)
    assert [name for name, _ in commands] == ["eval"]


def test_an_extending_preset_reads_only_scenes_its_release_never_read(recipe, monkeypatch):
    module, _ = recipe
    monkeypatch.setitem(module.PRESETS, "parent", {"llm_scenes": 2, "llm_languages": 2, "curated_scenes": 1,
                                                   "curated_languages": 2, "end_to_end_rounds": []})
    child = {"extends": "parent", "llm_scenes": 2, "fresh_scenes": 3, "llm_languages": 2,
             "fresh_languages": ["en", "de"], "curated_languages": 2, "end_to_end_rounds": []}
    # the parent's stage 2 read train scenes 0 and 1, its stage 3 the first late-object scene after them
    assert module.earlier_scenes(child) == {"train-0", "train-1", "train-2"}
    fresh = [json.loads(line) for line in module.fresh_subset(child).read_text(encoding="utf-8").splitlines()]
    assert [record["key"] for record in fresh] == ["train-4", "train-5", "train-6"]
    assert all(sorted(record["captions"]) == ["de", "en"] for record in fresh)  # German in every fresh scene
    out = module.DATA / "curated.jsonl"
    module.curate(child, out, limit=10)
    # of the train scenes neither the parent nor the fresh set read (8, 9, 10), the late-object ones
    assert [json.loads(line)["key"] for line in out.read_text(encoding="utf-8").splitlines()] == ["train-8", "train-10"]


def test_an_extension_of_an_extension_reads_nothing_the_whole_lineage_read(recipe, monkeypatch):
    module, _ = recipe
    monkeypatch.setitem(module.PRESETS, "first", {"llm_scenes": 2, "llm_languages": 2, "curated_scenes": 1,
                                                  "curated_languages": 2, "end_to_end_rounds": []})
    monkeypatch.setitem(module.PRESETS, "second", {"extends": "first", "llm_scenes": 2, "fresh_scenes": 2,
                                                   "llm_languages": 2, "curated_scenes": 1, "curated_languages": 2,
                                                   "end_to_end_rounds": []})
    third = {"extends": "second", "llm_scenes": 2, "fresh_scenes": 2, "llm_languages": 3,
             "fresh_languages": ["en", "de", "fr"], "curated_languages": 2, "end_to_end_rounds": []}
    # first: stage 2 on train 0, 1, stage 3 on train 2; second: stage 2 on train 4, 5, stage 3 on train 6
    assert module.earlier_scenes(third) == {"train-0", "train-1", "train-2", "train-4", "train-5", "train-6"}
    fresh = list(module.fresh_records(third))
    assert [record["key"] for record in fresh] == ["train-8", "train-9"]
    assert all(sorted(record["captions"]) == ["de", "en", "fr"] for record in fresh)


def test_the_shipped_extending_presets_chain_back_to_the_cpu_preset(load_script):
    module = load_script("train_shapes_model")
    chain, name = [], "cpu-extend-4"
    while name:
        chain.append(name)
        name = module.PRESETS[name].get("extends")
    assert chain == ["cpu-extend-4", "cpu-extend-3", "cpu-extend-2", "cpu-extend", "cpu"]
    assert {"en", "de", "ja"} <= set(module.PRESETS["cpu-extend-2"]["fresh_languages"])
    # the third leaves English to take turns: it leads the languages the gap is measured against
    assert set(module.PRESETS["cpu-extend-3"]["fresh_languages"]) == {"de", "ja"}
    # the fourth brings it back beside the three languages still furthest behind, and one more in turn
    fourth = module.PRESETS["cpu-extend-4"]
    assert set(fourth["fresh_languages"]) == {"en", "de", "ja", "fr"}
    assert fourth["llm_languages"] == len(fourth["fresh_languages"]) + 1
    # the fifth extends the tenth release, an average of the eighth and ninth: it read nothing past the
    # cpu-extend-3 lineage, so the fifth excludes exactly that lineage's scenes
    fifth = module.PRESETS["cpu-extend-5"]
    assert fifth["extends"] == "cpu-extend-3"
    assert set(fifth["fresh_languages"]) == {"de", "ja", "fr"} and fifth["llm_languages"] == 4
    # the sixth extends the eleventh (the tenth and a cpu-extend-5 release) the same way, with a deeper adapter
    sixth = module.PRESETS["cpu-extend-6"]
    assert sixth["extends"] == "cpu-extend-5" and sixth["adapter_layers"] == 2
    assert sixth["fresh_languages"] == fifth["fresh_languages"] and sixth["fresh_scenes"] == fifth["fresh_scenes"]


def test_train_only_stops_before_the_eval(recipe, tmp_path, monkeypatch):
    module, commands = recipe
    (module.DATA / "world.json").write_text(json.dumps({"world": {"resolution": 32}}), encoding="utf-8")
    for _, _, done in module.STAGES:  # every stage finished in an earlier sitting
        done.mkdir(parents=True)
    monkeypatch.setattr(sys, "argv", ["train_shapes_model.py", "--smoke", "--workdir", str(tmp_path), "--train-only"])
    assert module.main() == 0
    assert "eval" not in [name for name, _ in commands]
    monkeypatch.setattr(sys, "argv", sys.argv[:-1])
    assert module.main() == 0
    assert [name for name, _ in commands][-1] == "eval"


def test_the_always_languages_are_kept_and_the_others_take_turns(recipe):
    module, _ = recipe
    records = module.DATA / "records.jsonl"
    chosen = [sorted(record["captions"]) for record in module.select(records, module.is_train, 3, languages=2,
                                                                     always=("en", "fr"))]
    assert chosen == [["en", "fr"]] * 3
    chosen = [sorted(record["captions"]) for record in module.select(records, module.is_train, 2, languages=2)]
    assert chosen == [["de", "en"], ["en", "fr"]]  # English unless told
    # without English among them, English takes its turn like any other language
    chosen = [sorted(record["captions"]) for record in module.select(records, module.is_train, 4, languages=2,
                                                                     always=("de",))]
    assert chosen == [["de", "en"], ["de", "fr"], ["de", "en"], ["de", "fr"]]


def test_an_extending_preset_without_a_release_to_extend_is_refused():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "train_shapes_model.py"), "--preset", "cpu-extend"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--init-from" in result.stderr.splitlines()[-1] and "Traceback" not in result.stderr


def test_an_unmeasured_model_is_not_packaged_as_the_default(recipe):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "train_shapes_model.py"), "--preset", "cpu",
                             "--train-only", "--package"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--train-only" in result.stderr.splitlines()[-1] and "Traceback" not in result.stderr
    # packaged elsewhere, its card names the command that made it
    command = recipe[0].recipe_command({"preset": "cpu-extend-5", "train_only": True})
    assert command.endswith("--preset cpu-extend-5 --train-only --package FOLDER")


def test_an_extending_run_starts_from_fp32_copies_of_the_packaged_release(tmp_path, monkeypatch, load_script):
    from safetensors.torch import load_file

    module = load_script("train_shapes_model")
    monkeypatch.chdir(tmp_path)
    module.RUNS.mkdir(parents=True)
    log = {}
    module.copy_packaged(module.PACKAGE, module.START, log)
    for part in ("adapter/diffusion_pytorch_model.safetensors", "base/unet/diffusion_pytorch_model.safetensors",
                 "base/text_encoder/model.safetensors", "base/vae/diffusion_pytorch_model.safetensors"):
        packaged, copied = load_file(module.PACKAGE / part), load_file(module.START / part)
        assert packaged.keys() == copied.keys()
        assert all(copied[name].dtype == torch.float32 for name in copied)
        assert all(torch.equal(copied[name], packaged[name].float()) for name in packaged)
    assert (module.START / "adapter" / "text_encoder_config.json").is_file()
    assert list(log) == ["start"] and log["start"]["status"] == 0


def test_an_extending_run_can_start_from_a_deepened_adapter_with_the_same_outputs(tmp_path, monkeypatch, load_script):
    from llmdiff.adapter import LLMAdapter

    module = load_script("train_shapes_model")
    monkeypatch.chdir(tmp_path)
    module.RUNS.mkdir(parents=True)
    log = {}
    module.copy_packaged(module.PACKAGE, module.START, log, adapter_layers=2)
    packaged = LLMAdapter.load(module.PACKAGE / "adapter").float().eval()
    deepened = LLMAdapter.load(module.START / "adapter").eval()
    assert deepened.config.num_layers == packaged.config.num_layers + 1 == 2
    states = torch.randn(2, 9, packaged.config.llm_dim, generator=torch.Generator().manual_seed(0))
    mask = torch.tensor([[1] * 9, [1] * 5 + [0] * 4])
    with torch.no_grad():
        assert torch.allclose(packaged(states, mask).prompt_embeds, deepened(states, mask).prompt_embeds, atol=1e-5)
    assert "deepened to 2 encoder layers" in log["start"]["note"]
