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
    assert main(["eval", "generate", str(tmp_path), "--base", "x"]) == 2
    assert "prompts.jsonl' is missing" in capsys.readouterr().err
