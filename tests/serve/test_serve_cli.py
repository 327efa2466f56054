"""`llmdiff serve` argument handling, without loading a model or opening a port."""

import argparse
from types import SimpleNamespace

import pytest

from llmdiff.cli import serve as serve_cli
from llmdiff.errors import UserError
from llmdiff.pipeline import GenerationDefaults


def parse(*argv):
    parser = argparse.ArgumentParser()
    serve_cli.register(parser.add_subparsers())
    return parser.parse_args(["serve", *argv])


@pytest.fixture
def started(monkeypatch, tmp_path):
    """Replace model loading and the server with recorders."""
    calls = {}
    # `serve` sets Gradio's defaults in the environment; keep them inside this test.
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")

    def load(args):
        calls["load"] = args
        return SimpleNamespace(defaults=GenerationDefaults(num_inference_steps=12, guidance_scale=3.5)), {}

    monkeypatch.setattr("llmdiff.cli.generate._load_pipeline", load)
    monkeypatch.setattr("llmdiff.serve.app.run_server",
                        lambda config, generator, with_page, examples: calls.update(
                            config=config, with_page=with_page, examples=examples))
    monkeypatch.setattr("llmdiff.serve.generation.ImageGenerator.__init__", lambda self, *a, **k: None)
    monkeypatch.delenv("LLMDIFF_SERVE_TOKEN", raising=False)
    return calls


def test_public_host_without_token_fails_before_loading(started):
    with pytest.raises(UserError, match="--auth-token or the LLMDIFF_SERVE_TOKEN"):
        serve_cli.serve(parse("--host", "0.0.0.0", "--base", "x"))
    assert "load" not in started


def test_token_from_env_and_limits_reach_the_config(started, monkeypatch, tmp_path):
    monkeypatch.setenv("LLMDIFF_SERVE_TOKEN", "env-token-0123456789abcdef")
    args = parse("--host", "0.0.0.0", "--base", "x", "--max-images", "2", "--max-steps", "10", "--default-steps",
                 "4", "--output-dir", str(tmp_path), "--no-page")
    assert serve_cli.serve(args) == 0
    config = started["config"]
    assert config.auth_token == "env-token-0123456789abcdef"
    assert (config.limits.max_images, config.limits.max_steps, config.default_steps) == (2, 10, 4)
    assert config.default_guidance == 3.5  # not given: the model's own
    assert started["with_page"] is False


def test_defaults_are_the_models_unless_given(started, tmp_path):
    assert serve_cli.serve(parse("--base", "x", "--output-dir", str(tmp_path))) == 0
    assert (started["config"].default_steps, started["config"].default_guidance) == (12, 3.5)
    args = parse("--base", "x", "--output-dir", str(tmp_path), "--default-steps", "5", "--default-guidance", "9")
    assert serve_cli.serve(args) == 0
    assert (started["config"].default_steps, started["config"].default_guidance) == (5, 9.0)
    with pytest.raises(UserError, match="default guidance must be between 0 and 50, not 60"):
        serve_cli.serve(parse("--base", "x", "--default-guidance", "60"))


def test_default_steps_over_the_limit_is_refused(started):
    args = parse("--default-steps", "50", "--max-steps", "20", "--base", "x")
    with pytest.raises(UserError, match="default steps must be between 1 and 20"):
        serve_cli.serve(args)


def test_connection_host_and_budget_options_reach_the_config(started, tmp_path):
    args = parse("--base", "x", "--output-dir", str(tmp_path), "--allowed-host", "a.example", "--allowed-host",
                 "B.example.", "--read-timeout", "4", "--max-client-connections", "6", "--max-work", "1000")
    assert serve_cli.serve(args) == 0
    config = started["config"]
    assert config.allowed_hosts == ("a.example", "b.example") and config.host_names() == {"a.example", "b.example"}
    assert (config.read_timeout_s, config.max_client_connections, config.limits.max_work) == (4.0, 6, 1000)
    assert serve_cli.serve(parse("--base", "x", "--output-dir", str(tmp_path))) == 0
    assert started["config"].limits.max_work is None  # measured when the server starts
    assert started["config"].host_names() == {"127.0.0.1", "localhost", "::1"}
    with pytest.raises(UserError, match="connections per client must be between 1 and 256, not 0"):
        serve_cli.serve(parse("--base", "x", "--max-client-connections", "0"))
    with pytest.raises(UserError, match="read timeout must be positive"):
        serve_cli.serve(parse("--base", "x", "--read-timeout", "0"))
    with pytest.raises(UserError, match="limit max_work must be a positive integer, not -1"):
        serve_cli.serve(parse("--base", "x", "--max-work", "-1"))


def test_help_lists_the_new_options(capsys):
    with pytest.raises(SystemExit):
        parse("--help")
    out = capsys.readouterr().out
    for option in ("--allowed-host", "--read-timeout", "--max-client-connections", "--max-work"):
        assert option in out
    # Every model option is optional: no --model and no --base serve the shipped model.
    assert "[--model DIR | --base BASE]" in " ".join(out.split())


def test_model_folder_and_base_exclude_each_other(capsys):
    with pytest.raises(SystemExit):
        parse("--model", "m", "--base", "b")
    assert "not allowed with argument" in capsys.readouterr().err


def _world_folder(path, world):
    import json

    path.mkdir()
    (path / "world.json").write_text(json.dumps({"world": world.to_dict()}))
    return path


def test_page_examples_come_from_the_model_served(started, tmp_path):
    from llmdiff.defaults import default_model_dir
    from llmdiff.serve.examples import EXAMPLES, shapes_examples
    from llmdiff.worlds.shapes import WorldConfig
    from llmdiff.worlds.shapes.config import load_world

    small = WorldConfig(grid=2, max_objects=2, colours=("red", "blue"))
    out = str(tmp_path / "out")
    assert serve_cli.serve(parse("--model", str(_world_folder(tmp_path / "m", small)), "--output-dir", out)) == 0
    assert started["examples"].prompts == shapes_examples(small)
    assert "shapes world" in started["examples"].label
    assert serve_cli.serve(parse("--base", "x", "--output-dir", out)) == 0
    assert started["examples"].prompts == EXAMPLES
    assert serve_cli.serve(parse("--model", str(tmp_path / "m"), "--output-dir", out)) == 0
    (tmp_path / "m" / "world.json").unlink()  # a model folder without a world: the real-world paragraphs
    assert serve_cli.serve(parse("--model", str(tmp_path / "m"), "--output-dir", out)) == 0
    assert started["examples"].prompts == EXAMPLES
    if default_model_dir() is not None:  # nothing named: the shipped shapes model, in its own world and in
        # the captions as people write them that it was trained on
        assert serve_cli.serve(parse("--output-dir", out)) == 0
        assert started["examples"].prompts == shapes_examples(load_world("shipped"), styles=("freeform",))
        assert all(label.endswith(", free form") for label in started["examples"].prompts)
