"""The shapes-world recipe, end to end: dataset, template, base model, stages 1-3, evaluation, packaging.

    python scripts/train_shapes_model.py [--n 50000] [--scenes 500] [--smoke] [--package]

Each step is the project's own command (`llmdiff shapes make`, `llmdiff train configs/shapes/*.yaml`, …),
run in order and skipped when its output already exists, so an interrupted recipe continues where it
stopped (a stage that was cut off mid-way resumes from its latest checkpoint). Wall time and hardware of
every step go to runs/shapes/recipe.json. `--smoke` runs every step for a couple of optimizer steps on a
small dataset, to check the chain in minutes; its models are untrained. `--package` copies the final model
(fp16, with a model card) to src/llmdiff/models/shapes, where `llmdiff generate` finds it by default.
`--init-from DIR` continues a packaged model instead of starting from random weights: its VAE is kept, and
the base stage and stage 1 start from its UNet, CLIP encoder and adapter (training spread over sessions).
With `--preset cpu-extend` it extends a packaged release instead: stage 2 continues its UNet and adapter on
training scenes that release never read, then stage 3 on curated scenes outside both (one CPU sitting);
`--preset cpu-extend-2` does the same to a cpu-extend release, outside every scene its lineage read, and
`--preset cpu-extend-3` to a cpu-extend-2 release, with English in half its scenes instead of all, and
`--preset cpu-extend-4` to a cpu-extend-3 release, with English, German, Japanese and French in every scene,
and `--preset cpu-extend-5` to the tenth release, with German, Japanese and French in every scene, and
`--preset cpu-extend-6` to the eleventh the same way, its adapter first grown to two encoder layers.
`--train-only` stops before the eval.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "llmdiff" / "models" / "shapes"
# The configs name their paths relative to the working directory (runs/shapes/…, data/shapes/…,
# outputs/shapes/…), so a smoke run in another directory cannot touch a real run's files.
RUNS = Path("runs/shapes")
DATA = Path("data/shapes")
TEMPLATE = Path("outputs/shapes/template")
START = RUNS / "start"
"""With an extending preset: the packaged release it extends, in fp32, where stage 2 starts."""
EARLIER_CARD = RUNS / "continued_from.md"
"""With --init-from: the model card of the model this run continues, for the new card's lineage."""

# (name, config, output that marks the step done)
STAGES = [
    ("base_vae", ROOT / "configs/shapes/base_vae.yaml", RUNS / "vae" / "base"),
    ("base", ROOT / "configs/shapes/base.yaml", RUNS / "base" / "base"),
    ("align", ROOT / "configs/shapes/align.yaml", RUNS / "align" / "adapter"),
    ("end_to_end", ROOT / "configs/shapes/end_to_end.yaml", RUNS / "end_to_end" / "adapter"),
    ("quality", ROOT / "configs/shapes/quality.yaml", RUNS / "quality" / "adapter"),
]
SMOKE_OVERRIDES = [
    "train.max_steps=2", "train.batch_size=4", "checkpoint.every_steps=1", "log.every_steps=1",
    "log.sample_every_steps=0", "optim.warmup_steps=0",
]
CACHED_STAGES = {"base", "align", "end_to_end", "quality"}
"""Stages whose frozen inputs are cached first (VAE latents; frozen-LLM states): each is read many times."""

CPU_ROUND = ["optim.lr=2e-4", "optim.unet_lr=1e-4", "optim.warmup_steps=100", "train.ema_decay=0.995",
             "log.sample_every_steps=0"]
"""The cpu presets' stage-2 rates and averaging, shared by the later rounds and by cpu-continue's stage 2:
the length and checkpoints of each are its own."""
CPU_QUALITY = ["optim.lr=5e-5", "optim.warmup_steps=50", "train.ema_decay=0.99", "log.sample_every_steps=0"]
"""The cpu presets' stage-3 rate and averaging; the length and checkpoints are each preset's own."""

# Presets: the world, the architecture and the length of every stage. `default` is the benchmark world
# (64x64, 3x3 grid, 6 shapes x 6 colours) at full length, for a GPU; `cpu` is a smaller world (32x32,
# 2x2 grid, 4 shapes x 4 colours, up to 3 objects) and short stages (about 7 hours on 2 CPU cores,
# eval included). LLM stages read the LLM's states of a subset of the training captions (`llm_scenes`
# scenes, in English and `llm_languages - 1` other languages each, or all), cached once, because running
# SmolLM2 over every caption is what costs most on a CPU.
PRESETS = {
    "default": {"world": ["--world", "benchmark"], "template": "default", "llm_scenes": None, "llm_languages": None,
                "curated_scenes": 5000, "curated_languages": None,
                "eval_languages": "en,zh,fr,es,de,ja", "stage_overrides": {}, "end_to_end_rounds": []},
    "cpu": {
        "world": ["--resolution", "32", "--grid", "2", "--max-objects", "3", "--shapes",
                  "circle,square,triangle,star", "--colours", "red,green,blue,yellow"],
        "template": "cpu",
        "llm_scenes": 1500,
        "llm_languages": 2,
        # Stage 3's curated scenes: ones stage 2 never read, each in English and two other languages.
        "curated_scenes": 600,
        "curated_languages": 3,
        "eval_languages": "en,zh,fr,es,de,ja",
        "stage_overrides": {
            "base_vae": ["train.max_steps=1200", "optim.warmup_steps=100", "checkpoint.every_steps=300"],
            "base": ["train.max_steps=4800", "optim.lr=3e-4", "optim.warmup_steps=100", "train.ema_decay=0.995",
                     "checkpoint.every_steps=400", "log.sample_every_steps=0"],
            # Short stages learn faster and average over fewer steps than the full-length ones.
            "align": ["train.max_steps=400", "optim.lr=5e-4", "optim.warmup_steps=50", "train.ema_decay=0.99",
                      "checkpoint.every_steps=200"],
            "end_to_end": ["train.max_steps=1400", "optim.lr=2e-4", "optim.unet_lr=1e-4", "optim.warmup_steps=100",
                           "train.ema_decay=0.995", "checkpoint.every_steps=250", "log.sample_every_steps=1000"],
            "quality": ["train.max_steps=800", "checkpoint.every_steps=400", *CPU_QUALITY],
        },
        # Stage 2 in rounds that each restart the schedule from the one before (a CPU run spread over
        # sittings); later rounds read LLM states of more scenes, up to 1,200 per language besides English.
        "end_to_end_rounds": [
            {"scenes": 1500, "overrides": ["train.max_steps=1400", "checkpoint.every_steps=700", *CPU_ROUND]},
            {"scenes": 3000, "overrides": ["train.max_steps=2600", "checkpoint.every_steps=500", *CPU_ROUND]},
            {"scenes": 4500, "overrides": ["train.max_steps=2600", "checkpoint.every_steps=250", *CPU_ROUND]},
            {"scenes": 6000, "overrides": ["train.max_steps=2000", "checkpoint.every_steps=250", *CPU_ROUND]},
        ],
    },
}
# Continuing a packaged model: shorter stages, since every component starts trained; its CLIP encoder is
# trained already, so it is not held still first.
PRESETS["cpu-continue"] = {
    **PRESETS["cpu"],
    "stage_overrides": {
        **PRESETS["cpu"]["stage_overrides"],
        "base": ["train.max_steps=1800", "optim.lr=3e-4", "optim.warmup_steps=50", "train.ema_decay=0.995",
                 "checkpoint.every_steps=300", "log.sample_every_steps=600", "optim.text_encoder_hold_steps=0"],
        "end_to_end": ["train.max_steps=1000", "checkpoint.every_steps=250", *CPU_ROUND],
    },
    "end_to_end_rounds": [],
}
# Extending a packaged release of the preset named in `extends` (`--init-from DIR`): no new base model or
# stage 1 (their rows are the release's own, kept in the model card's lineage). Stage 2 continues the
# release's UNet and adapter on `fresh_scenes` training scenes that none of its steps read, each in the
# `fresh_languages` and the rest of `llm_languages` in turn; stage 3 then reads curated scenes outside all of
# those.
# German is in every fresh scene: it is the language furthest behind English. About 2 hours on 2 CPU cores.
PRESETS["cpu-extend"] = {
    **PRESETS["cpu"],
    "extends": "cpu",
    "fresh_scenes": 2000,
    "llm_languages": 3,
    "fresh_languages": ["en", "de"],
    "stage_overrides": {
        **PRESETS["cpu"]["stage_overrides"],
        "end_to_end": ["train.max_steps=1500", "checkpoint.every_steps=250", *CPU_ROUND],
    },
    "end_to_end_rounds": [],
}
# Extending a cpu-extend release: its fresh scenes are outside everything the whole lineage read. German
# and Japanese, the two languages furthest behind English, are in every scene, and one more in turn; four
# languages per scene, so fewer scenes for the same LLM passes. Stage 3 is half as long: at 800 steps it
# lost recall to the stage 2 it started from.
PRESETS["cpu-extend-2"] = {
    **PRESETS["cpu-extend"],
    "extends": "cpu-extend",
    "fresh_scenes": 1600,
    "llm_languages": 4,
    "fresh_languages": ["en", "de", "ja"],
    "stage_overrides": {
        **PRESETS["cpu-extend"]["stage_overrides"],
        "quality": ["train.max_steps=400", "checkpoint.every_steps=200", *CPU_QUALITY],
    },
}
# Extending a cpu-extend-2 release: English leaves the languages in every scene, since it leads the others
# and every earlier round read it in each scene. German and Japanese, furthest behind, stay in every scene;
# two of English, Spanish, French and Chinese take turns, so each of those is in half the scenes.
PRESETS["cpu-extend-3"] = {
    **PRESETS["cpu-extend-2"],
    "extends": "cpu-extend-2",
    "fresh_scenes": 1500,
    "fresh_languages": ["de", "ja"],
    "stage_overrides": {
        **PRESETS["cpu-extend-2"]["stage_overrides"],
        "end_to_end": ["train.max_steps=1400", "checkpoint.every_steps=200", *CPU_ROUND],
    },
}
# Extending a cpu-extend-3 release: English returns to every scene, since it slipped below its targets when
# it was in half; German, Japanese and French, the three languages still furthest behind it, are in every
# scene too, and one of Spanish and Chinese (already within reach of English) in turn. Five languages per
# scene, so fewer scenes for the same LLM passes.
PRESETS["cpu-extend-4"] = {
    **PRESETS["cpu-extend-3"],
    "extends": "cpu-extend-3",
    "fresh_scenes": 1200,
    "llm_languages": 5,
    "fresh_languages": ["en", "de", "ja", "fr"],
}
# Extending the tenth release (a soup of a cpu-extend-2 and a cpu-extend-3 release, so it read no scene outside
# the cpu-extend-3 lineage): French joins German and Japanese in every scene, the three languages furthest
# behind English; one of English, Spanish and Chinese in turn. English is in a third of the scenes: the
# candidates to ship are this run's stages averaged with the release it extends (merge_shapes_releases.py),
# which keeps what English had. 1,000 scenes and 1,200 steps, so the round fits one sitting with its measure.
PRESETS["cpu-extend-5"] = {
    **PRESETS["cpu-extend-3"],
    "extends": "cpu-extend-3",
    "fresh_scenes": 1000,
    "fresh_languages": ["de", "ja", "fr"],
    "stage_overrides": {
        **PRESETS["cpu-extend-3"]["stage_overrides"],
        "end_to_end": ["train.max_steps=1200", "checkpoint.every_steps=200", *CPU_ROUND],
    },
}
# Extending the eleventh release (a soup of the tenth and a cpu-extend-5 release) the same way, with one
# change: its adapter grows a second encoder layer, added as the identity (`LLMAdapter.deepened`), so stage 2
# starts exactly where the release stands but has more room to map German, Japanese and French states, which
# rounds of the one-layer adapter closed on English by only 0.00-0.03 each.
PRESETS["cpu-extend-6"] = {
    **PRESETS["cpu-extend-5"],
    "extends": "cpu-extend-5",
    "adapter_layers": 2,
}
RESOLUTION_STAGES = {"base_vae", "base", "align", "end_to_end", "quality"}
"""Stages that read images, at the world's resolution."""


def hardware() -> dict:
    import torch

    info = {"machine": platform.machine(), "cpus": os.cpu_count(), "torch": torch.__version__}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def save_log(log: dict) -> None:
    (RUNS / "recipe.json").write_text(json.dumps(log, indent=2) + "\n", encoding="utf-8")


def run(command: list[str], log: dict, name: str) -> None:
    command = [str(part) for part in command]
    print(f"\n== {name}: {' '.join(command)}", flush=True)
    start = time.perf_counter()
    status = subprocess.call(command)
    log.pop(name, None)  # a step run again moves to the end: the log and the model card keep the order steps ran
    log[name] = {"seconds": round(time.perf_counter() - start, 1), "command": " ".join(command),
                 "status": status}
    save_log(log)
    if status:
        sys.exit(f"{name} failed with status {status}")


def finished(name: str, done: Path) -> bool:
    """Whether step `name` finished in a sitting before: `done`, what it writes last, is there (and it is skipped)."""
    if done.exists():
        print(f"== {name}: done ({done})")
        return True
    return False


def run_unless_done(command: list[str], log: dict, name: str, done: Path) -> None:
    """`run`, unless the step is `finished`."""
    if not finished(name, done):
        run(command, log, name)


def select(records: Path, keep, limit: int, languages: int | None = None,
           always: tuple[str, ...] = ("en",)) -> Iterator[dict]:
    """The first `limit` records for which `keep(record)` holds.

    With `languages`, each record keeps the captions of the `always` languages (English unless told) and the
    rest of `languages` from the other languages in turn from one record to the next: more scenes (layouts)
    for the same number of LLM passes.
    """
    kept = 0
    with open(records, encoding="utf-8") as source:
        for line in source:
            if kept >= limit:
                return
            record = json.loads(line)
            if keep(record):
                if languages:
                    fixed = set(always)
                    others = sorted(language for language in record["captions"] if language not in fixed)
                    turns = min(languages - len(fixed), len(others))
                    chosen = {*fixed, *(others[(kept + i) % len(others)] for i in range(turns))}
                    record["captions"] = {k: v for k, v in record["captions"].items() if k in chosen}
                yield record
                kept += 1


def write_records(out: Path, records, what: str) -> None:
    kept = 0
    with open(out, "w", encoding="utf-8") as target:
        for record in records:
            target.write(json.dumps(record, ensure_ascii=False) + "\n")
            kept += 1
    print(f"{what}: {kept} records -> {out}")


def write_selected(records: Path, out: Path, keep, limit: int, what: str, languages: int | None = None) -> None:
    """`select`'s records as JSONL lines in `out`."""
    write_records(out, select(records, keep, limit, languages), what)


def keys(records: Path) -> set[str]:
    with open(records, encoding="utf-8") as file:
        return {json.loads(line)["key"] for line in file}


def is_train(record: dict) -> bool:
    return record["split"] == "train"


def describes_late_object(record: dict) -> bool:
    """Stage 3's curation: a train scene whose English paragraph describes an object past CLIP's window.

    Those are the examples the method exists for; a curated set of real photographs would instead be chosen
    by aesthetic score (`llmdiff data filter --score`).
    """
    from llmdiff.worlds.shapes import CLIP_WINDOW

    mentions = record["captions"].get("en", {}).get("paragraph", {}).get("mentions", [])
    return is_train(record) and any(m["clip_token"] >= CLIP_WINDOW for m in mentions)


def stage_two_scenes(preset: dict) -> set[str]:
    """The training scenes stage 2 of `preset` reads, when it reads a subset (else none: it reads them all)."""
    if preset.get("extends"):
        return {record["key"] for record in fresh_records(preset)}
    if not preset["llm_scenes"]:
        return set()
    largest = max([preset["llm_scenes"], *(r["scenes"] for r in preset.get("end_to_end_rounds", []))])
    return keys(llm_subset(preset, largest))


def earlier_scenes(preset: dict) -> set[str]:
    """The training scenes that the LLM stages of the releases `preset` extends read (none for a fresh run)."""
    if not preset.get("extends"):
        return set()
    parent = PRESETS[preset["extends"]]
    seen = earlier_scenes(parent) | stage_two_scenes(parent)
    return seen | {record["key"] for record in select(DATA / "records.jsonl", unseen_late(seen), parent["curated_scenes"])}


def unseen_late(seen: set[str]):
    def keep(record: dict) -> bool:
        return describes_late_object(record) and record["key"] not in seen

    return keep


def curate(preset: dict, out: Path, limit: int) -> None:
    """Stage 3's curated set: train scenes describing an object past CLIP's window that stage 2 never read.

    Fine-tuning on scenes stage 2 already trained on only repeats it; with an LLM subset, the curated scenes
    come from the training scenes outside the largest subset any round of stage 2 reads, and outside every
    scene that the release a preset extends read.
    """
    seen = earlier_scenes(preset) | stage_two_scenes(preset)
    write_selected(DATA / "records.jsonl", out, unseen_late(seen), limit, "curated set", preset["curated_languages"])


def fresh_records(preset: dict) -> Iterator[dict]:
    """An extending preset's stage-2 records: the first `fresh_scenes` training scenes its releases never read."""
    seen = earlier_scenes(preset)
    return select(DATA / "records.jsonl", lambda record: is_train(record) and record["key"] not in seen,
                  preset["fresh_scenes"], preset["llm_languages"], tuple(preset.get("fresh_languages", ("en",))))


def fresh_subset(preset: dict) -> Path:
    """`fresh_records` as the JSONL file the run's stage 2 reads (like curated.jsonl, one run's per data folder)."""
    path = DATA / "fresh.jsonl"
    if not path.is_file():
        write_records(path, fresh_records(preset), "fresh scenes")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50_000, help="dataset size over all splits (default 50000)")
    parser.add_argument("--scenes", type=int, default=500, help="test scenes per evaluation column (default 500)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default", help="world and stage lengths")
    parser.add_argument("--smoke", action="store_true", help="two optimizer steps per stage on a small dataset")
    parser.add_argument("--package", nargs="?", const=PACKAGE, type=Path, metavar="DIR",
                        help="copy the final model (fp16, with a model card) to DIR, by default "
                        "src/llmdiff/models/shapes where `llmdiff generate` finds it")
    parser.add_argument("--ship", choices=["quality", "end_to_end"], default="quality",
                        help="the stage whose model --package writes (default: stage 3, quality; end_to_end where the "
                        "eval measured stage 2 better)")
    parser.add_argument("--init-from", type=Path, metavar="DIR",
                        help="continue a packaged model (e.g. src/llmdiff/models/shapes): keep its VAE, start the "
                        "base stage from its UNet and CLIP encoder and stage 1 from its adapter")
    parser.add_argument("--train-only", action="store_true",
                        help="stop after the last stage, before the test-scene eval (to choose among candidates, "
                        "e.g. averages with the extended release, on the validation scenes first)")
    parser.add_argument("--workdir", type=Path, help="where data/, runs/ and outputs/ go (default: the repository; "
                        "with --smoke: outputs/shapes-smoke)")
    args = parser.parse_args()
    if args.smoke and args.package == PACKAGE:
        parser.error("a smoke run's models are untrained: package them only to another folder (--package DIR)")
    if args.train_only and args.package == PACKAGE:
        parser.error("--train-only leaves the model unmeasured: package it only to another folder (--package DIR)")
    if args.package:
        args.package = args.package.resolve()
    init_from = args.init_from.resolve() if args.init_from else None
    if init_from and not (init_from / "base" / "model_index.json").is_file():
        parser.error(f"--init-from {args.init_from}: not a packaged shapes model (no base/model_index.json)")
    preset = PRESETS[args.preset]
    extending = bool(preset.get("extends"))
    if extending and not init_from:
        parser.error(f"--preset {args.preset} extends a packaged release: name it with --init-from DIR")
    workdir = args.workdir or (ROOT / "outputs" / "shapes-smoke" if args.smoke else ROOT)
    workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(workdir)
    llmdiff = [sys.executable, "-m", "llmdiff"]
    overrides = SMOKE_OVERRIDES if args.smoke else []
    n = min(args.n, 400) if args.smoke else args.n
    scenes = min(args.scenes, 4) if args.smoke else args.scenes
    RUNS.mkdir(parents=True, exist_ok=True)
    log_path = RUNS / "recipe.json"
    log = json.loads(log_path.read_text()) if log_path.is_file() else {}
    log["hardware"] = hardware()

    log["preset"] = args.preset
    if not (DATA / "records.jsonl").is_file():
        run([*llmdiff, "shapes", "make", "--n", str(n), "--out", str(DATA), "--overwrite", *preset["world"]],
            log, "dataset")
    world = json.loads((DATA / "world.json").read_text())["world"]
    llm_records = DATA / "records.jsonl"
    llm_data = []
    if preset["llm_scenes"] and not args.smoke:
        llm_records = fresh_subset(preset) if extending else llm_subset(preset, preset["llm_scenes"])
        llm_data = [f"data.train=[{{path: {llm_records}}}]"]
    curated = DATA / "curated.jsonl"
    if not curated.is_file():
        if args.smoke:
            write_selected(llm_records, curated, describes_late_object, 200, "curated set")
        else:
            curate(preset, curated, preset["curated_scenes"])
    if not extending and not (TEMPLATE / "model_index.json").is_file():
        run([sys.executable, "-m", "llmdiff.training.shapes_model", str(TEMPLATE), "--preset", preset["template"]],
            log, "template")
    if not args.smoke and not extending and not (RUNS / "align" / "adapter").exists():
        # The frozen LLM's states of every caption the LLM stages read: they do not depend on the base
        # model, and the later stages' `llmdiff cache` then finds them (same LLM, layers and cache key).
        run([*llmdiff, "cache", ROOT / "configs/shapes/align.yaml", "cache.teacher=false", *llm_data], log, "llm_states")
    if extending and not (START / "adapter").exists():
        copy_packaged(init_from, START, log, preset.get("adapter_layers"))
    elif init_from and not extending and not STAGES[0][2].exists():
        continue_vae(init_from, STAGES[0][2], log)
    if init_from and not EARLIER_CARD.exists() and (init_from / "README.md").is_file():
        shutil.copy(init_from / "README.md", EARLIER_CARD)  # before --package may overwrite init_from
    stage_two = RUNS / "end_to_end"  # the stage-2 model: its last round
    for name, config, done in STAGES:
        if name == "quality" and not args.smoke:
            stage_two = continue_stage_two(llmdiff, preset, world, log)  # stage 2's later rounds, before stage 3
        if extending and name in ("base_vae", "base", "align"):
            continue  # the extended release's own
        if finished(name, done):
            continue
        stage_overrides = [] if args.smoke else list(preset["stage_overrides"].get(name, []))
        if name in RESOLUTION_STAGES:
            stage_overrides.append(f"data.resolution={world['resolution']}")
        if name in ("align", "end_to_end"):
            stage_overrides += llm_data
        if extending and name == "end_to_end":
            stage_overrides += [f"model.base={START / 'base'}", f"model.adapter={START / 'adapter'}"]
        if init_from and name == "base":
            stage_overrides.append("model.reinit=[]")  # the UNet and CLIP of the VAE stage's output: init_from's
        if init_from and name == "align":
            stage_overrides.append(f"model.adapter={init_from / 'adapter'}")
        if name == "quality":
            stage_overrides += [f"model.base={stage_two / 'base'}", f"model.adapter={stage_two / 'adapter'}"]
        train_stage(llmdiff, name, config, done, [*overrides, *stage_overrides], log,
                    cached=name in CACHED_STAGES and not args.smoke)
    # Stage 1 changes only the adapter: its model is the base model's UNet with the stage-1 adapter.
    align_base = RUNS / "align" / "base"
    if not extending and not align_base.exists():
        align_base.symlink_to(Path("..") / "base" / "base", target_is_directory=True)

    shipped = RUNS / "quality" if args.ship == "quality" else stage_two
    log["ship"], log["train_only"] = args.ship, args.train_only  # for the card's command line
    if args.train_only:
        print(f"trained: stage 2 in {stage_two}, stage 3 in {RUNS / 'quality'}; no eval (--train-only)")
        if args.package:  # unmeasured: a candidate for merge_shapes_releases.py, not the default model
            package(shipped, None, log, args.package)
        return 0

    # An extending run's base model and stage 1 are the extended release's, measured in its model card.
    earlier_rows = [] if extending else ["--clip", f"base CLIP model={RUNS / 'base' / 'base'}",
                                         "--model", f"stage 1 (align)={RUNS / 'align'}"]
    evaluation = RUNS / "eval"
    run_unless_done([*llmdiff, "eval", "shapes", "--world", str(DATA / "world.json"), "--scenes", str(scenes),
                     "--languages", preset["eval_languages"],
                     "--steps", "2" if args.smoke else "20", "--guidance", "5", "--batch-size", "32",
                     "--placement-seeds", "1" if args.smoke else "12", *earlier_rows,
                     "--model", f"stage 2 (end-to-end)={stage_two}",
                     "--model", f"stage 3 (quality)={RUNS / 'quality'}",
                     "-o", str(evaluation)], log, "eval", evaluation / "shapes_eval.md")
    if args.package:
        package(shipped, evaluation, log, args.package)
    return 0


def train_stage(llmdiff: list, name: str, config: Path, done: Path, overrides: list[str], log: dict,
                cached: bool) -> None:
    """One `llmdiff train` run, resumed from its latest checkpoint if cut off; with `cached`, its frozen
    inputs are cached first (they are read many times)."""
    if cached and not (done.parent / "checkpoints").exists():
        run([*llmdiff, "cache", config, *overrides], log, f"{name}_cache")
    resume = ["--resume", "latest"] if (done.parent / "checkpoints" / "latest").exists() else []
    run([*llmdiff, "train", config, *resume, *overrides], log, name)


def llm_subset(preset: dict, scenes: int) -> Path:
    """The LLM stages' training records: the first `scenes` training scenes, English + other languages in turn.

    A larger subset starts with the smaller one's records, so the frozen LLM's states cached for those are
    found again (the cache is keyed by text) and only the added scenes' captions are encoded.
    """
    path = DATA / ("llm_subset.jsonl" if scenes == preset["llm_scenes"] else f"llm_subset_{scenes}.jsonl")
    if not path.is_file():
        write_selected(DATA / "records.jsonl", path, is_train, scenes, "LLM-stage subset", preset["llm_languages"])
    return path


def continue_stage_two(llmdiff: list, preset: dict, world: dict, log: dict) -> Path:
    """Stage 2's later rounds (`end_to_end_rounds`), each continuing the one before with its learning-rate
    schedule restarted, on LLM states of as many scenes as the round names; returns the last round's run."""
    previous = RUNS / "end_to_end"
    for number, stage_round in enumerate(preset.get("end_to_end_rounds", []), start=2):
        out = RUNS / f"end_to_end_{number}"
        if not finished(f"end_to_end round {number}", out / "adapter"):
            data = llm_subset(preset, stage_round["scenes"])
            train_stage(llmdiff, f"end_to_end_{number}", ROOT / "configs/shapes/end_to_end.yaml", out / "adapter", [
                f"output_dir={out}", f"model.base={previous / 'base'}", f"model.adapter={previous / 'adapter'}",
                *stage_round["overrides"], f"data.resolution={world['resolution']}", f"data.train=[{{path: {data}}}]",
            ], log, cached=True)
        previous = out
    return previous


def copy_packaged(init_from: Path, out: Path, log: dict, adapter_layers: int | None = None) -> None:
    """A packaged model (fp16) as fp32 base/ and adapter/ folders, where an extending run's stage 2 starts;
    with `adapter_layers`, the adapter deepened to that many encoder layers (the same outputs)."""
    import torch

    start = time.perf_counter()
    save_pipeline_as(init_from / "base", out / "base", torch.float32)
    save_adapter_as(init_from / "adapter", out / "adapter.tmp", torch.float32, adapter_layers)
    os.replace(out / "adapter.tmp", out / "adapter")  # the marker that the copy is whole
    deepened = f", its adapter deepened to {adapter_layers} encoder layers" if adapter_layers else ""
    log["start"] = {"seconds": round(time.perf_counter() - start, 1), "command": f"copied from {init_from}",
                    "status": 0,
                    "note": f"(the extended release's VAE, UNet, CLIP encoder and adapter, as fp32{deepened})"}
    save_log(log)


def continue_vae(init_from: Path, out: Path, log: dict) -> None:
    """The VAE stage's output taken from a packaged model (fp32 again): its VAE is kept as it is, and its
    UNet and CLIP encoder are where the base stage starts."""
    import torch

    start = time.perf_counter()
    save_pipeline_as(init_from / "base", out, torch.float32)
    log["base_vae"] = {"seconds": round(time.perf_counter() - start, 1), "command": f"continued from {init_from}",
                       "status": 0, "note": "(VAE kept; UNet and CLIP encoder continued by the base stage)"}
    save_log(log)


def save_pipeline_as(source: Path, target: Path, dtype) -> None:
    """A Stable Diffusion pipeline folder saved again with its weights in `dtype`."""
    from diffusers import StableDiffusionPipeline

    pipeline = StableDiffusionPipeline.from_pretrained(
        source, torch_dtype=dtype, safety_checker=None, requires_safety_checker=False
    )
    pipeline.save_pretrained(target, safe_serialization=True)


def save_adapter_as(source: Path, target: Path, dtype, num_layers: int | None = None) -> None:
    """An adapter folder saved again in `dtype` (deepened to `num_layers` encoder layers if given), with the
    encoder settings it was trained with; the LLM spec is left out: the default LLM, found wherever it is
    installed."""
    from llmdiff.adapter import LLMAdapter
    from llmdiff.pipeline import load_text_encoder_config, save_text_encoder_config

    adapter = LLMAdapter.load(source).to(dtype)
    if num_layers:
        adapter = adapter.deepened(num_layers)
    adapter.save_pretrained(target, safe_serialization=True)
    save_text_encoder_config(target, load_text_encoder_config(source)[1])


def lineage(extending: bool) -> str:
    """The card of the model this run continued, its headings one level down; empty for a fresh run."""
    if not EARLIER_CARD.is_file():
        return ""
    earlier = EARLIER_CARD.read_text(encoding="utf-8")
    earlier = "\n".join("#" + line if line.startswith("#") else line for line in earlier.splitlines())
    if extending:
        how = ("its VAE and CLIP encoder are kept as they were, its UNet and adapter were trained further by the "
               "steps above; its base CLIP model and stage 1, and their rows in the table below, are its own")
    else:
        how = "its VAE is kept as it was, its UNet, CLIP encoder and adapter were trained further by the steps above"
    return f"\n\n## Continued from\n\nThis run started from the model below (`--init-from`): {how}.\n\n{earlier}\n"


SHIPPED = {"quality": "stage 3 (quality)", "end_to_end": "stage 2 (end-to-end)"}


def recipe_command(log: dict) -> str:
    """The command line of this run, as the model card names it."""
    continued = " --init-from DIR" if EARLIER_CARD.is_file() else ""  # DIR: the model the card's lineage shows
    ship = " --ship end_to_end" if log.get("ship") == "end_to_end" else ""
    package = " --train-only --package FOLDER" if log.get("train_only") else " --package"
    return f"python scripts/train_shapes_model.py --preset {log.get('preset', 'default')}{continued}{ship}{package}"


def package(model: Path, evaluation: Path | None, log: dict, target: Path) -> None:
    """The final model in fp16 (half the bytes; loaded back as fp32 on a CPU) with its model card; with no
    `evaluation` (--train-only), the card says it was not measured."""
    import torch

    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    save_pipeline_as(model / "base", staging / "base", torch.float16)
    save_adapter_as(model / "adapter", staging / "adapter", torch.float16)
    shutil.copy(DATA / "world.json", staging / "world.json")  # the world it draws, for scoring its images
    table = ((evaluation / "shapes_eval.md").read_text(encoding="utf-8") if evaluation else
             "Not measured by this run (`--train-only`): a candidate for an average with the release it extends "
             "(`scripts/merge_shapes_releases.py`), measured there.\n")
    timings = "\n".join(f"| {k} | {v['seconds']} s | `{v['command'].split(' -m ')[-1]}` {v.get('note', '')} |"
                         for k, v in log.items() if isinstance(v, dict) and "seconds" in v)
    (staging / "README.md").write_text(
        "# The shapes-world default model\n\n"
        f"Trained with `{recipe_command(log)}` (configs/shapes/*.yaml): a VAE and a "
        "CLIP-conditioned UNet on short English captions of the shapes world, then stage 1 (align), stage 2 "
        "(end-to-end) and stage 3 (quality) with SmolLM2-135M-Instruct reading paragraphs in six languages.\n\n"
        f"The weights here are {SHIPPED[log.get('ship', 'quality')]}'s ({model}).\n\n"
        f"Hardware: {json.dumps(log['hardware'])}\n\n| step | wall time | command |\n| --- | --- | --- |\n{timings}\n\n"
        f"## Held-out scores (oracle)\n\n{table}" + lineage(bool(PRESETS[log.get("preset", "default")].get("extends"))),
        encoding="utf-8",
    )
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    print(f"packaged {model} -> {target}")


if __name__ == "__main__":
    sys.exit(main())
