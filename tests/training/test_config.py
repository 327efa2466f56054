"""Configs: loading, overrides, validation, error messages, the shipped YAML files."""

from pathlib import Path

import pytest
import yaml

from llmdiff.cli.train import register
from llmdiff.errors import UserError
from llmdiff.training.config import RunConfig, load_config

REPO = Path(__file__).resolve().parents[2]
MINIMAL = {"stage": "align", "model": {"base": "some/base"}, "data": {"train": ["data.jsonl"]}}


def test_defaults_and_overrides():
    config = load_config(data=MINIMAL, overrides=["optim.lr=3e-4", "train.components=[adapter]", "log.sample_prompts=[a, b]"])
    assert isinstance(config, RunConfig)
    assert config.optim.lr == 3e-4
    assert config.train.components == ("adapter",)
    assert config.log.sample_prompts == ("a", "b")
    assert config.data.train[0].path == "data.jsonl"
    assert config.components == ("adapter",)
    assert load_config(data={**MINIMAL, "stage": "end_to_end"}).components == ("adapter", "unet")


@pytest.mark.parametrize(
    ("data", "overrides", "message"),
    [
        ({**MINIMAL, "optim": {"lrr": 1e-4}}, [], "unknown key 'optim.lrr'; did you mean 'optim.lr'?"),
        (MINIMAL, ["train.max_stpes=5"], "unknown key 'train.max_stpes'; did you mean 'train.max_steps'?"),
        ({**MINIMAL, "stag": "align"}, [], "did you mean 'stage'?"),
        (MINIMAL, ["stage=stage4"], "unknown stage 'stage4'"),
        (MINIMAL, ["train.batch_size=0"], "train.batch_size must be at least 1"),
        (MINIMAL, ["train.max_steps=many"], "'train.max_steps' must be int"),
        (MINIMAL, ["train.mixed_precision=no"], "quote the word (e.g. train.mixed_precision='no')"),
        (MINIMAL, ["train.components=[adapter,unet]"], "stage 1 (align) trains the adapter only"),
        ({**MINIMAL, "stage": "cross_lingual"}, [], "starts from a trained adapter: set model.adapter"),
        ({**MINIMAL, "stage": "cross_lingual"}, ["model.adapter=a", "train.components=[adapter,unet]"],
         "the cross_lingual stage trains the adapter only"),
        (MINIMAL, ["optim.lr"], "must look like key=value"),
        ({**MINIMAL, "stage": "base"}, ["train.components=[vae,unet]"], "trains the VAE alone"),
    ],
)
def test_bad_configs_fail_with_clear_messages(data, overrides, message):
    with pytest.raises(UserError) as error:
        load_config(data=data, overrides=overrides)
    assert message in str(error.value)


def test_config_files_shipped_are_valid():
    files = sorted((REPO / "configs" / "train").glob("*.yaml")) + sorted((REPO / "configs" / "shapes").glob("*.yaml"))
    assert len(files) >= 6
    for path in files:
        text = path.read_text(encoding="utf-8")
        header = [line for line in text.splitlines() if line.startswith("#")][:4]
        assert any("llmdiff train" in line for line in header), f"{path}: its header comment lacks the command"
        load_config(path)
    for name in ("ddp", "deepspeed_zero2", "fsdp"):
        assert yaml.safe_load((REPO / "configs" / "accelerate" / f"{name}.yaml").read_text())["distributed_type"]


def cli(argv):
    """`llmdiff ARGV` through this module's parsers only (other subcommands are not needed here)."""
    import argparse

    parser = argparse.ArgumentParser(prog="llmdiff")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_missing_data_fails_before_models_load(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**MINIMAL, "model": {"base": str(tmp_path / "no-base")},
                                      "data": {"train": [str(tmp_path / "missing.jsonl")]}}))
    with pytest.raises(UserError, match="missing.jsonl' does not exist"):
        cli(["train", str(config)])
    with pytest.raises(UserError, match="missing.jsonl' does not exist"):
        from llmdiff.training.recipes import AlignRecipe

        AlignRecipe(load_config(config)).setup()


def test_dry_run_prints_resolved_config(tmp_path, dataset, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**MINIMAL, "data": {"train": [str(dataset)]}}))
    assert cli(["train", str(config), "optim.lr=0.25", "--dry-run"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["optim"]["lr"] == 0.25 and printed["stage"] == "align"


def test_later_stage_reads_the_layers_its_adapter_was_trained_on(tmp_path):
    import json

    from llmdiff.pipeline import TEXT_ENCODER_CONFIG_NAME
    from llmdiff.training.models import llm_cache, text_encoder_config, text_encoder_settings

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / TEXT_ENCODER_CONFIG_NAME).write_text(json.dumps({"layers": [15], "max_length": 300, "llm": "x"}))
    stage_2 = {**MINIMAL, "stage": "end_to_end", "model": {"base": "some/base", "adapter": str(adapter)},
               "cache": {"dir": str(tmp_path / "cache")}}
    assert text_encoder_config(load_config(data=stage_2)).layers == (15,)
    assert text_encoder_config(load_config(data=stage_2, overrides=["model.text_encoder.max_length=77"])).max_length == 77
    with pytest.raises(UserError, match="sets layers unlike the adapter"):
        text_encoder_config(load_config(data=stage_2, overrides=["model.text_encoder.layers=[-2]"]))
    # Stage 1 naming the settings and stage 2 inheriting them share one cache of LLM states.
    stage_1 = {**MINIMAL, "model": {"base": "some/base", "text_encoder": {"layers": [15], "max_length": 300}},
               "cache": {"dir": str(tmp_path / "cache")}}
    assert text_encoder_settings(load_config(data=stage_1)) == text_encoder_settings(load_config(data=stage_2))
    assert llm_cache(load_config(data=stage_1)).key_hash == llm_cache(load_config(data=stage_2)).key_hash
