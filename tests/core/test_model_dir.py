"""A model folder (base/ + adapter/ [+ llm/]) named as one, in Python and on every command line."""

import numpy as np
import pytest
import torch

from llmdiff.cli.main import main
from llmdiff.errors import UserError
from llmdiff.images import read_metadata
from llmdiff.pipeline import LLMDiffusionPipeline

FAST = {"num_inference_steps": 2, "height": 32, "width": 32, "output_type": "np", "progress": False}


@pytest.fixture(scope="module")
def model_dir(tiny_models, tiny_adapter_config, tmp_path_factory):
    """A model folder whose adapter names its LLM, and one that ships the LLM in llm/ instead."""
    root = tmp_path_factory.mktemp("model_dirs")
    pipe = LLMDiffusionPipeline.from_pretrained(
        base=tiny_models["sd"], llm=tiny_models["llama"], adapter_config=tiny_adapter_config
    )
    named, shipped = root / "named", root / "shipped"
    for folder in (named, shipped):
        (folder / "base").parent.mkdir(parents=True)
        (folder / "base").symlink_to(tiny_models["sd"], target_is_directory=True)
    pipe.save_adapter(named / "adapter", llm=str(tiny_models["llama"]))
    pipe.save_adapter(shipped / "adapter")
    (shipped / "llm").symlink_to(tiny_models["llama"], target_is_directory=True)
    return {"named": named, "shipped": shipped}


def test_model_folder_loads_as_its_parts(model_dir):
    parts = LLMDiffusionPipeline.from_pretrained(base=model_dir["named"] / "base", adapter=model_dir["named"] / "adapter")
    whole = LLMDiffusionPipeline.from_pretrained(model=model_dir["named"])
    shipped = LLMDiffusionPipeline.from_pretrained(model=model_dir["shipped"])
    assert shipped.text_encoder.name == str(model_dir["shipped"] / "llm")
    expected = parts("a red cat", seed=3, **FAST).images[0]
    np.testing.assert_allclose(whole("a red cat", seed=3, **FAST).images[0], expected, atol=1e-6)
    np.testing.assert_allclose(shipped("a red cat", seed=3, **FAST).images[0], expected, atol=1e-6)


@pytest.mark.parametrize("layout, kwargs, message", [
    (None, {"base": "b"}, "either a model folder .* not both"),
    (None, {"adapter": "a"}, "either a model folder .* not both"),
    ("missing", {}, "model folder '.*missing' does not exist"),
    ("base", {}, "has no adapter/ folder"),
    ("adapter", {}, "has no base/ folder"),
])
def test_bad_model_folders_fail_in_one_line(model_dir, tmp_path, layout, kwargs, message):
    folder = model_dir["named"]
    if layout is not None:
        folder = tmp_path / layout
        if layout != "missing":
            (folder / layout).mkdir(parents=True)
    with pytest.raises(UserError, match=message) as error:
        LLMDiffusionPipeline.from_pretrained(model=folder, **kwargs)
    assert "\n" not in str(error.value)


def test_cli_generate_takes_a_model_folder(model_dir, tmp_path, capsys):
    out = tmp_path / "cat.png"
    status = main(["generate", "a red cat", "-o", str(out), "--model", str(model_dir["shipped"]), "--steps", "2",
                   "--width", "32", "--height", "32"])
    assert status == 0, capsys.readouterr().err
    capsys.readouterr()
    meta = read_metadata(out)
    assert meta["base"] == str(model_dir["shipped"] / "base")
    assert meta["adapter"] == str(model_dir["shipped"] / "adapter")
    assert meta["llm"] == str(model_dir["shipped"] / "llm")
    status = main(["generate", "a red cat", "-o", str(tmp_path / "b.png"), "--model", str(model_dir["named"]),
                   "--base", str(model_dir["named"] / "base")])
    err = capsys.readouterr().err
    assert status == 2 and "not both" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_eval_generate_takes_a_model_folder(model_dir, tmp_path, capsys):
    from llmdiff.eval.prompts import PromptRecord, write_prompts
    from llmdiff.eval.run_dir import RunDir

    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    write_prompts(run.prompts, [PromptRecord(id="cat", prompt="a red cat", category=None, index=0)])
    args = ["eval", "generate", str(run.root), "--model", str(model_dir["named"]), "--steps", "2", "--width", "32",
            "--height", "32", "--device", "cpu", "--systems", "ours"]
    assert main(args) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert read_metadata(run.image("ours", "cat"))["adapter"] == str(model_dir["named"] / "adapter")
    assert main(["eval", "generate", str(run.root), "--model", str(tmp_path)]) == 2
    assert "has no base/ folder" in capsys.readouterr().err
    assert main(["eval", "generate", str(run.root), "--base", str(model_dir["named"] / "base")]) == 2
    assert "has no adapter: name --adapter DIR (or --model DIR)" in capsys.readouterr().err


def test_eval_shapes_reads_the_llm_a_model_folder_ships(model_dir):
    from llmdiff.eval.shapes import ShapesEvalConfig, SharedEncoders, llm_model

    config = ShapesEvalConfig(num_scenes=1, languages=("en",), steps=1, batch_size=1)
    encoders = SharedEncoders()
    llm_model(model_dir["shipped"], config, encoders=encoders)
    assert [key[0] for key in encoders._encoders] == [str(model_dir["shipped"] / "llm")]
    with pytest.raises(UserError, match="has no base/ folder"):
        llm_model(model_dir["shipped"] / "base", config)


def test_cli_serve_takes_a_model_folder(model_dir, monkeypatch, tmp_path):
    loaded = {}
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    monkeypatch.setattr("llmdiff.serve.app.run_server", lambda config, generator, with_page, examples: loaded.update(
        pipe=generator.pipe, sources=generator.sources))
    assert main(["serve", "--model", str(model_dir["named"]), "--output-dir", str(tmp_path / "out"), "--no-page"]) == 0
    assert loaded["sources"]["adapter"] == "adapter"  # the server names its model without its file-system path
    from llmdiff.connectors import load_connector

    saved = load_connector(model_dir["named"] / "adapter").state_dict()
    served = loaded["pipe"].adapter.state_dict()
    assert saved.keys() == served.keys() and all(torch.equal(saved[key], served[key]) for key in saved)
    assert loaded["pipe"].info.cond_dim == 768


@pytest.mark.parametrize("command", [["generate"], ["serve"], ["eval", "generate"], ["eval", "shapes"]])
def test_help_names_the_model_option(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert "--model" in capsys.readouterr().out
