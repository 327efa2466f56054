import numpy as np
import pytest
import torch

from llmdiff.cli.main import main
from llmdiff.errors import UserError
from llmdiff.eval.generate import GenerateConfig, generate_run, load_pipelines
from llmdiff.eval.prompts import PromptRecord, write_prompts
from llmdiff.eval.run_dir import RunDir
from llmdiff.images import read_metadata

LONG = " ".join(["a red cat"] * 40)  # 120 CLIP tokens: the baseline keeps 75 of them


@pytest.fixture(scope="module")
def adapter_dir(tiny_models, tiny_adapter_config, tmp_path_factory):
    from llmdiff.pipeline import LLMDiffusionPipeline

    path = tmp_path_factory.mktemp("adapter")
    pipe = LLMDiffusionPipeline.from_pretrained(base=tiny_models["sd"], llm=tiny_models["llama"],
                                                adapter_config=tiny_adapter_config)
    pipe.save_adapter(path, llm=str(tiny_models["llama"]))
    return path


@pytest.fixture(scope="module")
def config(tiny_models, adapter_dir):
    return GenerateConfig(base=str(tiny_models["sd"]), adapter=str(adapter_dir), steps=2, width=32, height=32,
                          seed=100, device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def pipes(config):
    return load_pipelines(config, need_ours=True)


RECORDS = [PromptRecord("cat", "a red cat", "Animals", 0), PromptRecord("long", LONG, None, 7)]


def counting(pipes, calls):
    def load(config, need_ours):
        calls.append(need_ours)
        return pipes
    return load


def pixels(path):
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_same_seeds_and_resume(tmp_path, config, pipes):
    run = RunDir(tmp_path)
    calls = []
    summary = generate_run(run, RECORDS, config, load=counting(pipes, calls))
    assert summary.generated == {"ours": 2, "baseline": 2} and calls == [True]
    for record in RECORDS:
        ours, baseline = (read_metadata(run.image(s, record.id)) for s in ("ours", "baseline"))
        assert ours["seed"] == baseline["seed"] == 100 + record.index
        assert ours["prompt"] == baseline["prompt"] == record.prompt
        assert (ours["system"], baseline["system"]) == ("ours", "baseline")
    assert read_metadata(run.image("ours", "long"))["llm_tokens"] > 77

    # The images are those of each pipeline called alone with that seed.
    alone = pipes.ours("a red cat", seed=100, num_inference_steps=2, width=32, height=32, progress=False).images[0]
    assert np.array_equal(pixels(run.image("ours", "cat")), np.asarray(alone))
    stock = pipes.baseline(LONG, generator=torch.Generator("cpu").manual_seed(107), num_inference_steps=2,
                           width=32, height=32).images[0]
    assert np.array_equal(pixels(run.image("baseline", "long")), np.asarray(stock))

    # Resume: nothing to do loads nothing; a deleted baseline image is redone without our pipeline.
    assert generate_run(run, RECORDS, config, load=counting(pipes, calls)).skipped == {"ours": 2, "baseline": 2}
    assert calls == [True]
    before = pixels(run.image("baseline", "cat"))
    run.image("baseline", "cat").unlink()
    summary = generate_run(run, RECORDS, config, load=counting(pipes, calls))
    assert summary.generated == {"ours": 0, "baseline": 1} and calls == [True, False]
    assert np.array_equal(pixels(run.image("baseline", "cat")), before)


def test_refuses_images_made_otherwise(tmp_path, config, pipes):
    run = RunDir(tmp_path)
    generate_run(run, RECORDS[:1], config, load=counting(pipes, []))
    other = GenerateConfig(**{**config.__dict__, "seed": 5})
    with pytest.raises(UserError, match="made with other settings \\(seed differ"):
        generate_run(run, RECORDS[:1], other, load=counting(pipes, []))
    run.image("ours", "cat").write_bytes(b"not a png")
    with pytest.raises(UserError, match="cat.png' exists but is not a readable image"):
        generate_run(run, RECORDS[:1], config, load=counting(pipes, []))


def test_config_validation(tiny_models):
    with pytest.raises(UserError, match="systems must be among"):
        GenerateConfig(base="x", systems=("theirs",))
    with pytest.raises(UserError, match="batch size"):
        GenerateConfig(base="x", batch_size=0)


def test_cli_generate_batched(tmp_path, tiny_models, adapter_dir, capsys):
    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    write_prompts(run.prompts, RECORDS)
    args = ["eval", "generate", str(run.root), "--base", str(tiny_models["sd"]), "--adapter", str(adapter_dir),
            "--steps", "2", "--width", "32", "--height", "32", "--batch-size", "2", "--device", "cpu",
            "--systems", "baseline"]
    assert main(args) == 0
    assert "baseline: 2 generated, 0 already there" in capsys.readouterr().out
    assert sorted(p.name for p in run.images("baseline").iterdir()) == ["cat.png", "long.png"]
    assert not run.images("ours").exists()
    assert main(args) == 0
    assert "baseline: 0 generated, 2 already there" in capsys.readouterr().out


def test_cli_generate_needs_prompts(tmp_path, capsys):
    assert main(["eval", "generate", str(tmp_path), "--base", "x", "--untrained-adapter"]) == 2
    assert "prompts.jsonl' is missing" in capsys.readouterr().err


def test_cli_generate_refuses_a_base_without_adapter(tmp_path, tiny_models, capsys):
    assert main(["eval", "generate", str(tmp_path), "--base", str(tiny_models["sd"])]) == 2
    err = capsys.readouterr().err
    assert "has no adapter: name --adapter DIR (or --model DIR), or pass --untrained-adapter" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["--untrained-adapter"], "--untrained-adapter needs the base model"),
    (["--untrained-adapter", "--base", "b", "--adapter", "a"], "drop --adapter/--model"),
])
def test_cli_generate_untrained_adapter_conflicts(tmp_path, capsys, args, message):
    assert main(["eval", "generate", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err


def _capture_config(monkeypatch):
    import llmdiff.eval.generate as module
    from llmdiff.eval.generate import GenerateSummary

    seen = []

    def fake_run(run, records, config):
        seen.append(config)
        return GenerateSummary({s: 0 for s in config.systems}, {s: 0 for s in config.systems})

    monkeypatch.setattr(module, "generate_run", fake_run)
    return seen


def test_cli_generate_defaults_to_the_shipped_model_and_its_settings(tmp_path, monkeypatch, capsys):
    from llmdiff.defaults import default_model_dir
    from llmdiff.pipeline import GenerationDefaults

    shipped = default_model_dir()
    if shipped is None:
        pytest.skip("no shipped model installed")
    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    write_prompts(run.prompts, RECORDS)
    seen = _capture_config(monkeypatch)
    assert main(["eval", "generate", str(run.root)]) == 0
    own = GenerationDefaults.load(shipped / "adapter")
    assert (seen[0].base, seen[0].adapter) == (str(shipped / "base"), str(shipped / "adapter"))
    assert (seen[0].steps, seen[0].guidance) == (own.num_inference_steps, own.guidance_scale) == (20, 2.0)
    assert main(["eval", "generate", str(run.root), "--steps", "7", "--guidance", "3"]) == 0
    assert (seen[1].steps, seen[1].guidance) == (7, 3.0)
    assert "7 steps, guidance 3" in capsys.readouterr().out


def test_cli_generate_draws_at_the_adapters_own_settings(tmp_path, tiny_models, adapter_dir):
    """No --steps/--guidance: the adapter's generation_config.json, recorded in every image."""
    import shutil

    from llmdiff.pipeline import GenerationDefaults

    adapter = tmp_path / "adapter"
    shutil.copytree(adapter_dir, adapter)
    GenerationDefaults(2, 1.5).save(adapter)
    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    write_prompts(run.prompts, RECORDS[:1])
    assert main(["eval", "generate", str(run.root), "--base", str(tiny_models["sd"]), "--adapter", str(adapter),
                 "--width", "32", "--height", "32", "--device", "cpu", "--systems", "ours"]) == 0
    metadata = read_metadata(run.images("ours") / "cat.png")
    assert (int(metadata["steps"]), float(metadata["guidance_scale"])) == (2, 1.5)


def test_cli_generate_untrained_adapter_only_when_asked(tmp_path, tiny_models):
    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    write_prompts(run.prompts, RECORDS[:1])
    assert main(["eval", "generate", str(run.root), "--base", str(tiny_models["sd"]), "--llm",
                 str(tiny_models["llama"]), "--untrained-adapter", "--steps", "2", "--width", "32", "--height", "32",
                 "--device", "cpu", "--systems", "ours"]) == 0
    assert (run.images("ours") / "cat.png").is_file()


def test_cli_generate_help_names_the_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["eval", "generate", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--untrained-adapter" in out and "default: the shipped shapes-world model" in out
    assert "default: the model's, from its adapter's generation_config.json" in out
