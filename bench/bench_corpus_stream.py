"""Peak memory of stage 1 with the online teacher (no cache) as the caption corpus grows, streamed vs loaded.

    python bench/bench_corpus_stream.py [--sizes 10000 100000] [--steps 30] [--batch 32] [--shard-rows 5000]

The same tiny models (SD1.5-shaped base whose CLIP is the teacher, 3-layer Llama, small adapter) and the
same text-only captions (one English paragraph of 6-9 sentences each) are written three ways: parquet
shards and webdataset tar shards (both streamed a shard at a time), and one JSONL manifest (the baseline:
loaded whole). Each measurement runs in a fresh process and reports its peak resident set size
(`VmHWM`): `train` runs `--steps` stage-1 steps of `--batch` captions; `epoch` reads one full pass over
the corpus through the training data stream, without a model. The ratio of the largest corpus's peak to
the smallest's, per format, is the figure: flat (about 1.0) when memory does not grow with the corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

COLOURS = ["red", "blue", "green", "yellow", "purple", "orange"]
SHAPES = ["circle", "square", "triangle", "star", "hexagon"]
PLACES = ["in the top left corner", "near the centre", "at the bottom", "on the right edge", "above the others"]


def paragraph(rng: random.Random) -> str:
    return " ".join(f"A {rng.choice(['small', 'large', 'medium'])} {rng.choice(COLOURS)} {rng.choice(SHAPES)} sits "
                    f"{rng.choice(PLACES)}." for _ in range(rng.randint(6, 9)))


def write_corpus(root: Path, size: int, shard_rows: int) -> dict[str, str]:
    """The same `size` captions as parquet shards, tar shards and one JSONL manifest: format -> data path."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import webdataset as wds

    rng = random.Random(size)
    captions = [paragraph(rng) for _ in range(size)]
    for name in ("parquet", "webdataset"):
        (root / name).mkdir(parents=True)
    for start in range(0, size, shard_rows):
        part = captions[start : start + shard_rows]
        ids = [f"c{start + i:07d}" for i in range(len(part))]
        pq.write_table(pa.table({"id": ids, "caption": part}), root / "parquet" / f"train-{start:08d}.parquet")
        with wds.TarWriter(str(root / "webdataset" / f"train-{start:08d}.tar")) as writer:
            for ident, text in zip(ids, part):
                writer.write({"__key__": ident, "txt": text})
    with open(root / "captions.jsonl", "w", encoding="utf-8") as file:
        for index, text in enumerate(captions):
            file.write(json.dumps({"id": f"c{index:07d}", "caption": text}) + "\n")
    return {"parquet": str(root / "parquet"), "webdataset": str(root / "webdataset"),
            "jsonl": str(root / "captions.jsonl")}


def child(spec: dict) -> dict:
    """One measurement, in this (fresh) process."""
    from llmdiff.training.config import load_config

    config = load_config(data=spec["config"])
    if spec["mode"] == "epoch":
        from llmdiff.training.data import ExampleStream

        stream = ExampleStream(config.data, seed=0)
        count = 0
        while stream.epoch == 0:
            stream.next_example()
            count += 1
        done = {"examples": count - 1}
    else:
        from llmdiff.training.recipes import RECIPES

        recipe = RECIPES["align"](config)
        recipe.setup()
        recipe.train()
        recipe.cleanup()
        done = {"steps": recipe.step, "loss": recipe.last_scalars["loss"]}
    return {**done, "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak resident set size. `VmHWM` belongs to the process's own memory map; Linux's
    `ru_maxrss` carries the parent's peak across `exec`, which would hide a child smaller than its parent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--shard-rows", type=int, default=5000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(Path(args.child).read_text()))))
        return

    from llmdiff.training.tiny import make_tiny_setup

    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        models = make_tiny_setup(root / "models")
        corpora = {size: write_corpus(root / f"corpus-{size}", size, args.shard_rows) for size in args.sizes}
        results = {}
        for mode in ("epoch", "train"):
            for size in args.sizes:  # interleaved formats, so shared-machine load spreads over all of them
                for kind, path in corpora[size].items():
                    config = {
                        "stage": "align", "output_dir": str(root / "runs" / f"{mode}-{kind}-{size}"),
                        "model": {"base": str(models["sd"]), "llm": str(models["llm"]),
                                  "adapter_config": {"hidden_dim": 32, "num_heads": 4, "num_layers": 1}},
                        "data": {"train": [path], "image_field": None},
                        "train": {"max_steps": args.steps, "batch_size": args.batch},
                        "loss": {"teacher_chunks": 1},
                        "checkpoint": {"every_steps": 10**9, "save_final": False},
                        "log": {"progress": False, "tensorboard": False},
                    }
                    spec = root / "spec.json"
                    spec.write_text(json.dumps({"mode": mode, "config": config}))
                    done = subprocess.run([sys.executable, __file__, "--child", str(spec)], capture_output=True,
                                          text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
                    results[(mode, kind, size)] = json.loads(done.stdout.strip().splitlines()[-1])
                    print(mode, kind, size, results[(mode, kind, size)], flush=True)
    smallest, largest = min(args.sizes), max(args.sizes)
    print(f"\n| measurement | format | peak RSS, {smallest:,} captions | peak RSS, {largest:,} captions | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for mode in ("epoch", "train"):
        for kind in ("parquet", "webdataset", "jsonl"):
            low, high = results[(mode, kind, smallest)], results[(mode, kind, largest)]
            print(f"| {mode} | {kind} | {low['peak_rss_mb']:.0f} MB | {high['peak_rss_mb']:.0f} MB | "
                  f"{high['peak_rss_mb'] / low['peak_rss_mb']:.2f} |")


if __name__ == "__main__":
    main()
