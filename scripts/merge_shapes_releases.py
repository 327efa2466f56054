"""A shapes-world release made by averaging earlier releases of one lineage (a model soup), measured, packaged.

    python scripts/merge_shapes_releases.py --release r7=4b7d007 --release r8=8382ca6 --release r9=d1e69ff \
        [--weights 1,1,1] [--name average] [--scenes 500] [--val] [--package [DIR]]

Each --release names a packaged release: a commit of this repository (its src/llmdiff/models/shapes) or a
folder. Successive releases of one lineage each continued the one before, so their weights can be averaged
(`llmdiff merge`); no training step runs. `--val` measures the releases and their average on the validation
scenes, the split to choose weights on; the test scenes then measure the average alone (the releases' own
test rows are in their model cards: the eval is deterministic). `--package` writes the average with a model
card to src/llmdiff/models/shapes, where `llmdiff generate` finds it. Steps are skipped when their output
exists; wall times go to runs/shapes-merge/merge.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "llmdiff" / "models" / "shapes"
PACKAGED = "src/llmdiff/models/shapes"
RUNS = Path("runs/shapes-merge")


def release_folder(name: str, source: str, repository: Path = ROOT, into: Path | None = None) -> Path:
    """The release `source` names as a folder: the folder itself, or the commit's packaged model extracted
    (to `into`/NAME, by default runs/shapes-merge/releases/NAME)."""
    if Path(source).is_dir():
        return Path(source)
    out = (into or RUNS / "releases") / name
    if not (out / "base" / "model_index.json").is_file():
        archive = subprocess.run(["git", "-C", str(repository), "archive", source, PACKAGED], capture_output=True)
        if archive.returncode:
            sys.exit(f"release {name}: '{source}' is neither a folder nor a commit holding {PACKAGED}: "
                     f"{archive.stderr.decode().strip()}")
        staging = out.with_name(out.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(staging, filter="data")
        shutil.rmtree(out, ignore_errors=True)
        os.replace(staging / PACKAGED, out)
        shutil.rmtree(staging)
    return out


def adapter_depth(release: Path) -> int:
    return json.loads((release / "adapter" / "config.json").read_text(encoding="utf-8"))["num_layers"]


def deepened_to_match(releases: list[tuple[str, Path]]) -> list[tuple[str, Path]]:
    """The releases, each whose adapter has fewer encoder layers than the deepest one's replaced by a copy
    grown to that depth as the identity (`LLMAdapter.deepened`: the same outputs), so the weights line up.

    A release extended with a deeper adapter (`--preset cpu-extend-6`) can then be averaged with the release
    it continued: the copy is the same model, its added layers the starting point the extension trained from.
    """
    deepest = max(adapter_depth(folder) for _, folder in releases)
    grown = []
    for name, folder in releases:
        if adapter_depth(folder) < deepest:
            out = RUNS / "releases" / f"{name}-{deepest}-layers"
            if not (out / "adapter" / "config.json").is_file():
                save_deepened(folder, out, deepest)
            folder = out
        grown.append((name, folder))
    return grown


def save_deepened(release: Path, out: Path, num_layers: int) -> None:
    """A copy of the packaged `release` at `out`, its adapter deepened to `num_layers` in its own dtype."""
    from safetensors import safe_open

    from llmdiff.adapter import LLMAdapter

    weights = release / "adapter" / "diffusion_pytorch_model.safetensors"
    with safe_open(weights, framework="pt") as stored:
        dtype = stored.get_tensor(next(iter(stored.keys()))).dtype
    staging = out.with_name(out.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(release, staging)
    LLMAdapter.load(release / "adapter").deepened(num_layers).to(dtype).save_pretrained(
        staging / "adapter", safe_serialization=True)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(staging, out)


def run(command: list, log: dict, name: str, done: Path, log_file: Path | None = None) -> None:
    """One step, unless `done` (what it writes last) is there; its wall time and command go to the log
    (`log_file`, by default runs/shapes-merge/merge.json)."""
    if done.exists():
        print(f"== {name}: done ({done})")
        return
    command = [str(part) for part in command]
    print(f"\n== {name}: {' '.join(command)}", flush=True)
    start = time.perf_counter()
    status = subprocess.call(command)
    log[name] = {"seconds": round(time.perf_counter() - start, 1), "command": " ".join(command), "status": status}
    (log_file or RUNS / "merge.json").write_text(json.dumps(log, indent=2) + "\n", encoding="utf-8")
    if status:
        sys.exit(f"{name} failed with status {status}")


def evaluate(llmdiff: list, world: Path, scenes: int, rows: list[tuple[str, Path]], out: Path,
             first_seed: int | None = None) -> list:
    """`llmdiff eval shapes` as the shapes recipe runs it (20 steps, guidance 5, placement check)."""
    seed = [] if first_seed is None else ["--first-seed", first_seed]
    models = [part for name, folder in rows for part in ("--model", f"{name}={folder}")]
    return [*llmdiff, "eval", "shapes", "--world", world, "--scenes", scenes, *seed, "--steps", "20", "--guidance", "5",
            "--batch-size", "32", "--placement-seeds", "12", *models, "-o", out]


def step_table(log: dict) -> str:
    """The card's hardware line and table of steps (wall time, command) from a run's log."""
    rows = "\n".join(f"| {k} | {v['seconds']} s | `{v['command'].split(' -m ')[-1]}` |"
                     for k, v in log.items() if isinstance(v, dict) and "seconds" in v)
    return f"Hardware: {json.dumps(log['hardware'])}\n\n| step | wall time | command |\n| --- | --- | --- |\n{rows}\n"


def write_card(staging: Path, target: Path, header: str, runs: Path, val_section: str, lineage: Path,
               lineage_heading: str) -> None:
    """`staging`'s model card (header, the test table of `runs`/eval, its validation table if measured, under
    `val_section` (its heading and words), and `lineage`, a release's card, one heading level down), then `staging`
    in `target`'s place."""
    sections = [header, "## Held-out scores (oracle)\n\n" + (runs / "eval" / "shapes_eval.md").read_text(encoding="utf-8")]
    val = runs / "eval-val" / "shapes_eval.md"
    if val.is_file():
        sections.append(f"## {val_section}\n\n" + val.read_text(encoding="utf-8"))
    earlier = (lineage / "README.md").read_text(encoding="utf-8") if (lineage / "README.md").is_file() else ""
    if earlier:
        earlier = "\n".join("#" + line if line.startswith("#") else line for line in earlier.splitlines())
        sections.append(f"## {lineage_heading}\n\n{earlier}\n")
    (staging / "README.md").write_text("\n".join(sections), encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)


def deepening(deepened: list[str], depth: int) -> str:
    """The card's sentence on the releases whose adapters were deepened to be averaged (empty if none were)."""
    if not deepened:
        return ""
    return (f"The adapter of {', '.join(deepened)} was first grown to {depth} encoder layers as the identity "
            "(`LLMAdapter.deepened`: the added layers' output projections at zero, so the same outputs), the "
            "depth of the others.\n\n")


def package(merged: Path, last: Path, log: dict, args: argparse.Namespace, target: Path,
            deepened: list[str]) -> None:
    """The average (in the releases' own fp16) with a model card; the last release's card is its lineage;
    `deepened` names the releases whose adapters were grown to the others' depth first."""
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(merged, staging)  # world.json too: the same in every release
    weights = json.loads((merged / "merge.json").read_text(encoding="utf-8"))["sources"]
    sources = "\n".join(f"| {name} | `{source}` | {w['weight']:.4f} |"
                        for (name, source), w in zip(args.release, weights))
    options = [part for name, source in args.release for part in ("--release", f"{name}={source}")]
    options += ["--weights", args.weights] if args.weights else []
    command = shlex.join(["python", "scripts/merge_shapes_releases.py", *options, "--name", args.name, "--package"])
    header = (
        "# The shapes-world default model\n\n"
        f"Made with `{command}`: the weighted average (a model soup, `llmdiff merge`) of the UNet and adapter "
        "weights of the releases below, successive releases of one lineage, each trained from the one before "
        "(their cards: the lineage at the end). No training step of its own; the VAE, CLIP encoder and LLM "
        "settings are the releases' own, the same in each.\n\n"
        f"| release | commit or folder | weight |\n| --- | --- | --- |\n{sources}\n\n{deepening(deepened, adapter_depth(merged))}{step_table(log)}"
    )
    validation = ("Validation scenes (where the weights were chosen)\n\nThe same measure on the validation split's "
                  "scenes, which no training step read; the weights were chosen here, and the test table above was "
                  "measured after the choice.")
    write_card(staging, target, header, RUNS, validation, last,
               "Merged from\n\nThe last release averaged, whose card carries the earlier ones:")
    print(f"packaged {merged} -> {target}")


def named(spec: str) -> tuple[str, str]:
    name, sep, source = spec.partition("=")
    if not sep or not name or not source:
        raise argparse.ArgumentTypeError(f"expected NAME=COMMIT_OR_DIR, not {spec!r}")
    return name, source


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--release", type=named, action="append", required=True, metavar="NAME=COMMIT_OR_DIR",
                        help="a packaged release: a commit of this repository or a folder (two or more)")
    parser.add_argument("--weights", help="one weight per release, comma-separated (default: equal)")
    parser.add_argument("--name", default="average", help="the average's row in the tables (default average)")
    parser.add_argument("--scenes", type=int, default=500, help="scenes per evaluation column (default 500)")
    parser.add_argument("--val", action="store_true", help="also measure the releases and the average on the "
                        "validation scenes")
    parser.add_argument("--package", nargs="?", const=PACKAGE, type=Path, metavar="DIR",
                        help="write the average with a model card to DIR (default src/llmdiff/models/shapes)")
    parser.add_argument("--workdir", type=Path, default=ROOT, help="where runs/ goes (default: the repository)")
    args = parser.parse_args()
    if len(args.release) < 2:
        parser.error("name two or more releases to average")
    target = args.package.resolve() if args.package else None
    args.workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(args.workdir)
    RUNS.mkdir(parents=True, exist_ok=True)
    log_path = RUNS / "merge.json"
    log = json.loads(log_path.read_text(encoding="utf-8")) if log_path.is_file() else {}
    log["hardware"] = {"machine": platform.machine(), "cpus": os.cpu_count()}
    llmdiff = [sys.executable, "-m", "llmdiff"]

    packaged = [(name, release_folder(name, source)) for name, source in args.release]
    releases = deepened_to_match(packaged)
    deepened = [name for (name, folder), (_, used) in zip(packaged, releases) if used != folder]
    merged = RUNS / "merged"
    weights = ["--weights", args.weights] if args.weights else []
    run([*llmdiff, "merge", *(folder for _, folder in releases), "-o", merged, *weights], log, "merge", merged)
    world = releases[-1][1] / "world.json"
    if args.val:
        rows = [*releases, (args.name, merged)]
        from llmdiff.worlds.shapes.dataset import SPLIT_SEED_BASE

        run(evaluate(llmdiff, world, args.scenes, rows, RUNS / "eval-val", SPLIT_SEED_BASE["val"]), log,
            "eval_val", RUNS / "eval-val" / "shapes_eval.md")
    run(evaluate(llmdiff, world, args.scenes, [(args.name, merged)], RUNS / "eval"), log, "eval",
        RUNS / "eval" / "shapes_eval.md")
    if target:
        package(merged, releases[-1][1], log, args, target, deepened)
    return 0


if __name__ == "__main__":
    sys.exit(main())
