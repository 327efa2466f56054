"""The connector-family study: equal budgets from the configs, the runner's plan, its chart, and a tiny run."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmdiff.errors import UserError
from llmdiff.studies.chart import chart_columns, write_recall_chart
from llmdiff.studies.connectors import (
    build_summary, check_equal_budget, plan_study, read_study, split_steps, stage_budgets,
)
from llmdiff.text_encoder import TextEncoderConfig
from llmdiff.training.config import load_config

ROOT = Path(__file__).resolve().parents[2]
STUDY = ROOT / "configs" / "study" / "connectors" / "study.yaml"
SCRIPT = ROOT / "scripts" / "compare_connectors.py"


def stage_files():
    return [STUDY.parent / stage for row in read_study(STUDY)["rows"] for stage in row["stages"]]


def test_every_row_trains_on_the_same_examples_in_the_same_order_with_the_same_seed():
    budgets = stage_budgets(STUDY)
    assert set(budgets) == {"llmdiff", "omnidiffusion", "ella", "perceiver_no_timestep", "lavi_bridge", "paradiffusion"}
    assert check_equal_budget(STUDY) == 4000 * 32
    assert {name: len(stages) for name, stages in budgets.items()}["llmdiff"] == 2
    configs = {path.name: load_config(path) for path in stage_files()}
    assert len({json.dumps([s.__dict__ for s in c.data.train]) for c in configs.values()}) == 1
    assert len({c.data.text_fields for c in configs.values()}) == 1
    assert {c.train.seed for c in configs.values()} == {0}
    assert {c.model.base for c in configs.values()} - {"src/llmdiff/models/shapes/base"} == \
        {"runs/study/connectors/paradiffusion/text_proj_base"}
    # a second stage reads on where its first stage stopped
    for first, second in (("llmdiff_align.yaml", "llmdiff_end_to_end.yaml"),
                          ("omnidiffusion_align.yaml", "omnidiffusion_end_to_end.yaml")):
        done = configs[first].train.max_steps * configs[first].train.batch_size
        assert configs[second].data.skip_examples == done and configs[first].data.skip_examples == 0
    # each config's text path is a valid encoder config, and the rows that say so learn what their system learns
    for config in configs.values():
        TextEncoderConfig(**config.model.text_encoder)
    assert configs["ella.yaml"].train.components == ("adapter",)
    assert configs["perceiver_no_timestep.yaml"].model.adapter_config["timestep_aware"] is False
    assert configs["lavi_bridge.yaml"].train.unet_lora_rank > 0 and "llm" in configs["lavi_bridge.yaml"].train.components
    assert configs["paradiffusion.yaml"].model.connector == "identity"
    assert configs["paradiffusion.yaml"].train.components == ("unet", "llm")


def test_unequal_budgets_are_refused(tmp_path):
    for path in stage_files():
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "study.yaml").write_text(STUDY.read_text())
    ella = tmp_path / "ella.yaml"
    ella.write_text(ella.read_text().replace("max_steps: 4000", "max_steps: 3999"))
    with pytest.raises(UserError, match="unequal budgets.*ella 127968"):
        check_equal_budget(tmp_path / "study.yaml")


def test_scaled_budgets_stay_equal_and_stages_chain():
    assert split_steps(7, [2000, 2000]) == [4, 3] and split_steps(5, [4000]) == [5]
    with pytest.raises(UserError, match="cannot feed 2 stages"):
        split_steps(1, [1, 1])
    plan = plan_study(STUDY, "data/tiny", "out", budget_steps=6, batch_size=3, scenes=4)
    assert {row.examples for row in plan.rows} == {18}
    llmdiff = next(row for row in plan.rows if row.name == "llmdiff")
    second = llmdiff.stages[1]
    assert "data.skip_examples=9" in second.overrides and "model.adapter=out/llmdiff/llmdiff_align/adapter" in second.overrides
    para = next(row for row in plan.rows if row.name == "paradiffusion")
    assert "model.base=out/paradiffusion/text_proj_base" in para.stages[0].overrides
    test = plan.eval_command("test")
    assert test[test.index("--scenes") + 1] == "4" and test[test.index("--wording") + 1] == "en,de,fr"
    assert test[test.index("--steps") + 1] == "20" and test[test.index("--guidance") + 1] == "2.0"
    assert "shipped=src/llmdiff/models/shapes" in test
    assert plan.eval_command("val")[-4:-2] == ["--first-seed", "1000000000"]
    with pytest.raises(UserError, match="unknown row 'dalle'"):
        plan_study(STUDY, "d", "o", only=["dalle"])


def test_every_stage_passes_train_dry_run_on_a_tiny_dataset(tmp_path):
    from llmdiff.cli.main import main

    data = tmp_path / "data"
    assert main(["shapes", "make", "--n", "12", "--out", str(data), "--languages", "en", "--workers", "1"]) == 0
    plan = plan_study(STUDY, data, tmp_path / "out", budget_steps=2, batch_size=2)
    for stage in (stage for row in plan.rows for stage in row.stages):
        assert main(["train", str(stage.config), *stage.overrides, "--dry-run"]) == 0
    # every row reads the same captions in the same order; a second stage reads on where its first stopped
    from llmdiff.training.data import ExampleStream

    def read(stage, count):
        config = load_config(stage.config, stage.overrides)
        return [(e.id, e.text) for e in ExampleStream(config.data, seed=config.train.seed).next_batch(count)]

    rows = {row.name: row for row in plan.rows}
    whole = read(rows["ella"].stages[0], 4)
    for row in plan.rows:
        assert read(row.stages[0], 4) == whole, row.name
    assert read(rows["llmdiff"].stages[0], 2) + read(rows["llmdiff"].stages[1], 2) == whole


def _script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("compare_connectors", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dry_run_prints_every_command_and_help_works(tmp_path, capsys):
    script = _script()
    assert script.main(["--data", "data/x", "--out", str(tmp_path), "--dry-run", "--budget-steps", "4",
                        "--batch-size", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum(" -m llmdiff train " in line for line in lines) == 8  # 2 + 2 + 1 + 1 + 1 + 1 stages
    assert sum(" -m llmdiff eval shapes " in line for line in lines) == 2  # test and validation scenes
    assert any("write_base_with_text_projection" in line for line in lines)
    assert not (tmp_path / "llmdiff").exists()  # nothing ran
    assert script.main(["--data", "d", "--rows", "nope", "--dry-run"]) == 2
    assert capsys.readouterr().err.strip() == "error: unknown row 'nope'; the study's rows: llmdiff, omnidiffusion, " \
        "ella, perceiver_no_timestep, lavi_bridge, paradiffusion"
    with pytest.raises(SystemExit) as exit_:
        script.main(["--help"])
    assert exit_.value.code == 0 and "--budget-steps" in capsys.readouterr().out


def _cell(recall, low, high):
    return {"recall": recall, "recall_ci95": [low, high], "all_correct": recall}


def test_chart_draws_every_column_of_every_row(tmp_path):
    summary = {"rows": {
        "a": {"test": {"columns": {"short-en": _cell(0.9, 0.8, 0.95)}, "wording": {"frames-en": _cell(0.5, 0.4, 0.6)}}},
        "b": {"test": {"columns": {"short-en": _cell(0.7, 0.6, 0.8), "paragraph-de": _cell(0.6, 0.5, 0.7)}}},
    }}
    assert chart_columns(summary) == ["short-en", "paragraph-de", "frames-en"]
    path = write_recall_chart(summary, tmp_path / "chart.png")
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 500


@pytest.mark.slow
def test_the_runner_end_to_end_at_a_tiny_scale(tmp_path):
    """Two rows (two stages; the widened UNet) for 2 steps of 2, evaluated on 2 scenes in English; a second
    call resumes: nothing is trained or evaluated again. (Every row's tiny model folder also loads and draws:
    docs/studies.md; the rows that pad to 512 tokens draw slowly on a CPU, so they are left out here.)"""
    data = tmp_path / "data"
    subprocess.run([sys.executable, "-m", "llmdiff", "shapes", "make", "--n", "20", "--out", str(data), "--languages",
                    "en,de", "--workers", "1"], check=True, capture_output=True)
    args = [sys.executable, str(SCRIPT), "--data", str(data), "--out", str(tmp_path / "out"), "--budget-steps", "2",
            "--batch-size", "2", "--scenes", "2", "--placement-seeds", "0", "--timing-images", "2",
            "--eval-batch-size", "8", "--languages", "en", "--wording", "none", "--rows", "llmdiff,paradiffusion",
            "--set", "log.progress=false"]
    first = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    assert first.returncode == 0, first.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    rows = summary["rows"]
    assert list(rows) == ["llmdiff", "paradiffusion", "shipped"]
    assert set(rows["llmdiff"]["trainable_parameters"]) == {"adapter", "unet"}
    assert [stage["stage"] for stage in rows["llmdiff"]["stages"]] == ["llmdiff_align", "llmdiff_end_to_end"]
    para = rows["paradiffusion"]["trainable_parameters"]
    assert set(para) == {"unet", "llm"} and para["unet"] == 3_275_524 + 576 * 256 + 256  # the shipped UNet + text_proj
    for name in rows:
        assert rows[name]["test"]["columns"]["paragraph-en"]["scenes"] == 2
        assert rows[name]["val"]["columns"]["short-en"]["scenes"] == 2 and rows[name]["seconds_per_image"] > 0
    assert all(rows[name]["examples"] == 4 for name in ("llmdiff", "paradiffusion"))
    assert (tmp_path / "out" / "summary.png").stat().st_size > 1000
    again = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    assert again.returncode == 0 and again.stdout.count("finished earlier") == 3 + 2
