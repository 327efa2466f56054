"""The connector-family study: each family trained its own way at one equal budget, then measured alike.

A study file (`configs/study/connectors/study.yaml`) names the rows; each row is one or more stage configs run
in order. `plan_study` turns them into `llmdiff train` commands for a dataset folder and an output folder, at
the configs' budget or a scaled one (the same total examples for every row, split between a row's stages as
its configs split it); `run_study` runs what is not finished yet, records wall time and trainable parameters
per stage, assembles each row's model folder, evaluates every row with `llmdiff eval shapes` (test and
validation scenes), times generation, and writes `summary.json` and a bar chart.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from llmdiff.errors import UserError
from llmdiff.training.config import load_config

STAGE_DONE = "study_stage.json"
"""Written in a stage's output folder once its `llmdiff train` has finished: what ran, how long it took."""


@dataclass
class StagePlan:
    row: str
    name: str
    config: Path
    output: Path
    steps: int
    batch_size: int
    overrides: list[str]

    def command(self) -> list[str]:
        return [sys.executable, "-m", "llmdiff", "train", str(self.config), *self.overrides]


@dataclass
class RowPlan:
    name: str
    system: str
    stages: list[StagePlan]
    base: Path
    """The base every stage starts from (the shipped base, or the widened one a `text_projection` writes)."""
    model: Path
    """The row's model folder (base/ + adapter/) assembled after its last stage."""
    text_projection: dict | None = None

    @property
    def examples(self) -> int:
        return sum(stage.steps * stage.batch_size for stage in self.stages)


@dataclass
class StudyPlan:
    rows: list[RowPlan]
    data: Path
    output: Path
    eval: dict
    reference: dict | None = None
    timing_images: int = 32

    def eval_command(self, split: str) -> list[str]:
        command = [sys.executable, "-m", "llmdiff", "eval", "shapes"]
        for row in self.rows:
            command += ["--model", f"{row.name}={row.model}"]
        if self.reference:
            command += ["--model", f"{self.reference['name']}={self.reference['model']}"]
        settings = self.eval
        command += ["--world", str(self.data / "world.json"), "--scenes", str(settings["scenes"]),
                    "--languages", str(settings["languages"]),
                    "--steps", str(settings["steps"]), "--guidance", str(settings["guidance"]),
                    "--wording", str(settings["wording"]), "--batch-size", str(settings["batch_size"]),
                    "--placement-seeds", str(settings["placement_seeds"] if split == "test" else 0)]
        if split == "val":
            from llmdiff.worlds.shapes.dataset import SPLIT_SEED_BASE

            command += ["--first-seed", str(SPLIT_SEED_BASE["val"])]
        return command + ["-o", str(self.output / "eval" / split)]


def read_study(path: str | Path) -> dict:
    path = Path(path)
    try:
        study = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise UserError(f"cannot read the study file '{path}': {' '.join(str(error).split())}") from None
    if not isinstance(study, dict) or not isinstance(study.get("rows"), list) or not study["rows"]:
        raise UserError(f"'{path}' names no rows (a list under 'rows:')")
    for row in study["rows"]:
        if not isinstance(row, dict) or not row.get("name") or not row.get("stages"):
            raise UserError(f"'{path}': every row needs a name and its stages, not {row!r}")
    return study


def stage_budgets(study_path: str | Path) -> dict[str, list[tuple[int, int]]]:
    """Row name -> (train.max_steps, train.batch_size) of each of its stages, as the configs give them."""
    study_path = Path(study_path)
    budgets = {}
    for row in read_study(study_path)["rows"]:
        budgets[row["name"]] = []
        for stage in row["stages"]:
            config = load_config(study_path.parent / stage)
            budgets[row["name"]].append((config.train.max_steps, config.train.batch_size * config.train.grad_accum))
    return budgets


def check_equal_budget(study_path: str | Path) -> int:
    """Examples every row trains on (steps x batch summed over its stages); a one-line error if rows differ."""
    totals = {name: sum(steps * batch for steps, batch in stages) for name, stages in stage_budgets(study_path).items()}
    if len(set(totals.values())) != 1:
        raise UserError("the rows train on unequal budgets (steps x batch summed over their stages): "
                        + ", ".join(f"{name} {total}" for name, total in totals.items()))
    return next(iter(totals.values()))


def split_steps(total: int, parts: list[int]) -> list[int]:
    """`total` steps split between stages in the proportions `parts` (each at least 1), summing to `total`."""
    if total < len(parts):
        raise UserError(f"a budget of {total} steps cannot feed {len(parts)} stages")
    whole = sum(parts)
    steps = [max(1, round(total * part / whole)) for part in parts[:-1]]
    steps.append(total - sum(steps))
    if steps[-1] < 1:
        raise UserError(f"a budget of {total} steps cannot feed {len(parts)} stages")
    return steps


def plan_study(study_path: str | Path, data: str | Path, output: str | Path, budget_steps: int | None = None,
               batch_size: int | None = None, scenes: int | None = None, only: list[str] | None = None,
               overrides: list[str] = (), timing_images: int = 32, eval_settings: dict | None = None) -> StudyPlan:
    """Every row's stage commands for dataset folder `data` and output folder `output`.

    `budget_steps` (steps per row, over its stages) and `batch_size` scale every row alike; `scenes` sets the
    evaluation's scene count (`eval_settings` any other of the study's eval settings); `only` keeps some rows;
    `overrides` (KEY=VALUE) go to every stage. Paths in the study and its configs are read from the current
    folder (the repository root), as every config's are."""
    study_path, data, output = Path(study_path), Path(data), Path(output)
    study = read_study(study_path)
    check_equal_budget(study_path)
    if budget_steps is not None and budget_steps < 1 or batch_size is not None and batch_size < 1:
        raise UserError("--budget-steps and --batch-size must be at least 1")
    names = [row["name"] for row in study["rows"]]
    unknown = [name for name in only or () if name not in names]
    if unknown:
        raise UserError(f"unknown row {unknown[0]!r}; the study's rows: {', '.join(names)}")
    train_source = json.dumps([{"path": str(data / "records.jsonl"), "split": "train"}])
    rows = []
    for row in study["rows"]:
        if only and row["name"] not in only:
            continue
        configs = [load_config(study_path.parent / stage) for stage in row["stages"]]
        given = [config.train.max_steps for config in configs]
        steps = split_steps(budget_steps, given) if budget_steps else given
        row_dir = output / row["name"]
        projection = row.get("text_projection")
        base = row_dir / "text_proj_base" if projection else Path(configs[0].model.base)
        stages, skipped, adapter = [], 0, None
        for stage_file, config, stage_steps, config_steps in zip(row["stages"], configs, steps, given):
            batch = batch_size or config.train.batch_size
            warmup = min(round(config.optim.warmup_steps * stage_steps / config_steps), stage_steps - 1)
            name = Path(stage_file).stem
            stage_out = row_dir / name
            settings = [f"output_dir={stage_out}", f"data.train={train_source}", f"train.max_steps={stage_steps}",
                        f"train.batch_size={batch}", f"data.skip_examples={skipped}", f"optim.warmup_steps={warmup}",
                        f"checkpoint.every_steps={min(config.checkpoint.every_steps, stage_steps)}"]
            if projection:
                settings.append(f"model.base={base}")
            if adapter is not None:
                settings.append(f"model.adapter={adapter}")
            stages.append(StagePlan(row["name"], name, study_path.parent / stage_file, stage_out, stage_steps, batch,
                                    settings + list(overrides)))
            skipped += stage_steps * batch * config.train.grad_accum
            adapter = stage_out / "adapter"
        rows.append(RowPlan(row["name"], row.get("system", row["name"]), stages, base, row_dir / "model", projection))
    settings = {"scenes": 500, "steps": 20, "guidance": 2.0, "languages": "en,zh,fr,es,de,ja", "wording": "en,de,fr",
                "batch_size": 32,
                "placement_seeds": 12, **study.get("eval", {})}
    if scenes is not None:
        settings["scenes"] = scenes
    settings.update({key: value for key, value in (eval_settings or {}).items() if value is not None})
    return StudyPlan(rows, data, output, settings, study.get("reference"), timing_images)


# running

def _show(command: list[str]) -> str:
    return shlex.join(command)


def run_stage(stage: StagePlan, log=print) -> dict:
    """The stage's `llmdiff train`, unless an earlier run finished it; its record (command, wall time, counts)."""
    done = stage.output / STAGE_DONE
    if done.is_file():
        log(f"[{stage.row}] {stage.name}: finished earlier ({done})")
        return json.loads(done.read_text(encoding="utf-8"))
    log(f"[{stage.row}] {stage.name}: {_show(stage.command())}")
    started = time.perf_counter()
    result = subprocess.run(stage.command())
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise UserError(f"row {stage.row}, stage {stage.name} failed (exit code {result.returncode}); "
                        "rerun to resume the rows left")
    from llmdiff.training.recipe import TRAINABLE_FILE

    record = {"stage": stage.name, "command": _show(stage.command()), "steps": stage.steps,
              "batch_size": stage.batch_size, "wall_s": round(wall, 2),
              "trainable_parameters": json.loads((stage.output / TRAINABLE_FILE).read_text(encoding="utf-8"))}
    from llmdiff.files import atomic_output

    with atomic_output(done) as file:
        file.write(json.dumps(record, indent=2) + "\n")
    return record


def assemble_model(row: RowPlan) -> Path:
    """`row.model`: the last stage's adapter beside the newest base a stage exported (else the row's base)."""
    from llmdiff.files import replace_path

    base = row.base
    for stage in row.stages:
        if (stage.output / "base").is_dir():
            base = stage.output / "base"
    row.model.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".model.", dir=row.model.parent))
    try:
        shutil.copytree(base, staging / "model" / "base")
        shutil.copytree(row.stages[-1].output / "adapter", staging / "model" / "adapter")
        replace_path(staging / "model", row.model)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return row.model


def row_trainable(records: list[dict]) -> dict[str, int]:
    """The parameters a row trained, each component counted once (its largest count over the stages)."""
    counts: dict[str, int] = {}
    for record in records:
        for name, count in record["trainable_parameters"].items():
            counts[name] = max(counts.get(name, 0), count)
    return counts


def seconds_per_image(model: Path, prompts: list[str], steps: int, guidance: float, resolution: int,
                      batch_size: int, device: str = "cpu") -> float:
    """Wall seconds per image of `model` drawing `prompts` (after one warm-up call), text encoding included."""
    from llmdiff.files import batched
    from llmdiff.pipeline import LLMDiffusionPipeline

    pipe = LLMDiffusionPipeline.from_pretrained(model=model, device=device)
    settings = {"num_inference_steps": steps, "guidance_scale": guidance, "height": resolution, "width": resolution,
                "seed": 0, "progress": False}
    pipe(prompts[:1], **settings)
    started = time.perf_counter()
    for batch in batched(prompts, batch_size):
        pipe(batch, **settings)
    return (time.perf_counter() - started) / len(prompts)


def timing_prompts(data: Path, count: int) -> tuple[list[str], int]:
    """English paragraphs of the first `count` test scenes of the dataset's world, and the world's resolution."""
    from llmdiff.eval.shapes import test_split_start
    from llmdiff.worlds.shapes import WorldConfig, caption_record, sample_scene

    world = WorldConfig.from_file(data / "world.json")
    first = test_split_start()
    prompts = [caption_record(sample_scene(seed, world), "paragraph", "en", seed=seed).text
               for seed in range(first, first + count)]
    return prompts, world.resolution


def run_eval(plan: StudyPlan, split: str, log=print) -> dict:
    """`llmdiff eval shapes` over every row (and the reference), unless its output already holds them all."""
    result = plan.output / "eval" / split / "shapes_eval.json"
    names = {row.name for row in plan.rows} | ({plan.reference["name"]} if plan.reference else set())
    if result.is_file():
        earlier = json.loads(result.read_text(encoding="utf-8"))
        if names <= set(earlier["results"]) and earlier["config"]["num_scenes"] == plan.eval["scenes"]:
            log(f"eval {split}: finished earlier ({result})")
            return earlier
    command = plan.eval_command(split)
    log(f"eval {split}: {_show(command)}")
    if subprocess.run(command).returncode != 0:
        raise UserError(f"the {split} evaluation failed; rerun to resume")
    return json.loads(result.read_text(encoding="utf-8"))


def dry_run(plan: StudyPlan, log=print) -> None:
    for row in plan.rows:
        if row.text_projection:
            spec = row.text_projection
            log(f"[{row.name}] {sys.executable} -c 'from llmdiff.text_projection import write_base_with_text_projection; "
                f"write_base_with_text_projection(\"{spec['base']}\", \"{row.base}\", {spec['width']}, "
                f"seed={spec.get('seed', 0)})'")
        for stage in row.stages:
            log(f"[{row.name}] {_show(stage.command())}")
        log(f"[{row.name}] model folder: {row.model} (base/ + the last stage's adapter/)")
    for split in ("test", "val"):
        log(f"eval {split}: {_show(plan.eval_command(split))}")
    log(f"generation time: {plan.timing_images} English test paragraphs per model at {plan.eval['steps']} steps, "
        f"guidance {plan.eval['guidance']}")
    log(f"summary: {plan.output / 'summary.json'}, chart: {plan.output / 'summary.png'}")


def run_study(plan: StudyPlan, device: str = "cpu", log=print) -> Path:
    """Train what is not finished, evaluate, time, and write `summary.json` + `summary.png`; the summary's path."""
    for needed in ("records.jsonl", "world.json"):
        if not (plan.data / needed).is_file():
            raise UserError(f"'{plan.data}' is not a shapes dataset (no {needed}); make one with llmdiff shapes make")
    rows = {}
    for row in plan.rows:
        if row.text_projection and not row.base.is_dir():
            from llmdiff.text_projection import write_base_with_text_projection

            spec = row.text_projection
            log(f"[{row.name}] writing {row.base}: {spec['base']} with a {spec['width']}-wide text projection")
            write_base_with_text_projection(spec["base"], row.base, spec["width"], seed=spec.get("seed", 0))
        records = [run_stage(stage, log) for stage in row.stages]
        assemble_model(row)
        trainable = row_trainable(records)
        rows[row.name] = {"system": row.system, "model": str(row.model), "stages": records,
                          "examples": row.examples, "train_wall_s": round(sum(r["wall_s"] for r in records), 2),
                          "trainable_parameters": trainable, "trainable_total": sum(trainable.values())}
    evals = {split: run_eval(plan, split, log) for split in ("test", "val")}
    prompts, resolution = timing_prompts(plan.data, plan.timing_images)
    models = [(name, Path(row["model"])) for name, row in rows.items()]
    if plan.reference:
        models.append((plan.reference["name"], Path(plan.reference["model"])))
    timing = {}
    for name, model in models:
        timing[name] = seconds_per_image(model, prompts, plan.eval["steps"], plan.eval["guidance"], resolution,
                                         plan.eval["batch_size"], device)
        log(f"[{name}] {timing[name]:.4f} s per image")
    summary = build_summary(plan, rows, evals, timing, device)
    from llmdiff.files import atomic_output
    from llmdiff.studies.chart import write_recall_chart

    plan.output.mkdir(parents=True, exist_ok=True)
    path = plan.output / "summary.json"
    with atomic_output(path) as file:
        file.write(json.dumps(summary, indent=2) + "\n")
    write_recall_chart(summary, plan.output / "summary.png")
    log(f"wrote {path} and {plan.output / 'summary.png'}")
    return path


def build_summary(plan: StudyPlan, rows: dict, evals: dict, timing: dict, device: str) -> dict:
    """Rows with their training record, test and validation columns, placement and generation time."""
    import platform

    names = list(rows) + ([plan.reference["name"]] if plan.reference else [])
    out = {"study": {"data": str(plan.data), "eval": plan.eval, "device": device, "timing_images": plan.timing_images,
                     "machine": platform.machine()},
           "rows": {}}
    for name in names:
        entry = dict(rows.get(name, {"system": "the shipped model (reference)", "model": plan.reference["model"]}))
        for split, result in evals.items():
            entry[split] = {"columns": result["results"].get(name, {}),
                            "wording": result.get("wording", {}).get(name, {})}
            if split == "test" and "placement" in result:
                entry["placement"] = result["placement"].get(name)
        entry["seconds_per_image"] = round(timing[name], 4)
        out["rows"][name] = entry
    return out
