"""Stage-1 (align) step throughput with feature caches vs encoding on the fly, in the same run.

    python bench/bench_cache.py [--llm SPEC] [--base DIR] [--steps 20] [--batch 16]

Defaults: the default LLM (SmolLM2-135M), a tiny SD1.5-shaped base (the CLIP teacher's cost is small
next to the LLM's, as in the shapes model), 64 paragraph captions of about 120 tokens, teacher chunks 3
(227 positions), the shapes align adapter size. Caches are filled first (not timed); both runs then train
`--steps` steps after 3 warm-up steps, and the ratio of their samples/s is printed.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

COLOURS = ["red", "blue", "green", "yellow", "purple", "orange"]
SHAPES = ["circle", "square", "triangle", "star", "hexagon"]
PLACES = ["in the top left corner", "near the centre", "at the bottom", "on the right edge", "above the others"]


def paragraph(rng: random.Random) -> str:
    parts = [f"A {rng.choice(['small', 'large', 'medium'])} {rng.choice(COLOURS)} {rng.choice(SHAPES)} sits "
             f"{rng.choice(PLACES)}." for _ in range(rng.randint(6, 9))]
    return " ".join(parts)


def run(config, steps: int) -> float:
    from llmdiff.training.recipes import RECIPES

    recipe = RECIPES[config.stage](config)
    recipe.setup()
    times = []
    recipe.callbacks.append(lambda r, step: times.append(time.perf_counter()))
    config.train.max_steps = steps + 3
    recipe.train()
    recipe.cleanup()
    per_step = statistics.median(b - a for a, b in zip(times[2:], times[3:]))
    return config.train.batch_size / per_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", default=None, help="LLM spec (default: SmolLM2)")
    parser.add_argument("--base", default=None, help="base pipeline (default: a tiny SD1.5-shaped one)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()

    import json

    import torch

    from llmdiff.testing import make_tiny_base
    from llmdiff.training.config import load_config
    from llmdiff.training.precompute import build_caches

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    root = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    base = args.base or str(make_tiny_base(root / "base", "sd"))
    rng = random.Random(0)
    rows = [{"id": f"p{i}", "caption": paragraph(rng)} for i in range(64)]
    (root / "captions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    common = {
        "stage": "align",
        "model": {"base": base, "llm": args.llm,
                  "adapter_config": {"hidden_dim": 256, "num_heads": 4, "num_layers": 2, "num_resampler_layers": 2}},
        "data": {"train": [str(root / "captions.jsonl")], "image_field": None},
        "train": {"batch_size": args.batch, "max_steps": args.steps + 3},
        "loss": {"teacher_chunks": 3},
        "checkpoint": {"every_steps": 10**6, "save_final": False},
        "log": {"progress": False, "tensorboard": False},
    }
    cached = load_config(data={**common, "output_dir": str(root / "cached"), "cache": {"dir": str(root / "cache")}})
    plain = load_config(data={**common, "output_dir": str(root / "plain")})
    started = time.perf_counter()
    build_caches(cached, progress=False)
    fill = time.perf_counter() - started
    with_cache = run(cached, args.steps)
    on_the_fly = run(plain, args.steps)
    device = "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device: {device}; llm: {args.llm or 'SmolLM2-135M (default)'}; batch {args.batch}; "
          f"{args.steps} timed steps each")
    print(f"cache fill (64 captions, not timed in the ratio): {fill:.1f} s")
    print(f"on the fly: {on_the_fly:.1f} samples/s   with caches: {with_cache:.1f} samples/s   "
          f"ratio: {with_cache / on_the_fly:.2f}x")


if __name__ == "__main__":
    main()
