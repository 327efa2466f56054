"""Wall time of `llmdiff generate` with the shipped model against bare imports of its libraries, in one run.

    python bench/bench_startup.py [--repeats 7] [--prompt "a red circle"]

Each repeat runs, interleaved so that other load on the machine falls on every side alike: a fresh
`python -c "import torch, diffusers, transformers"` (the floor: no llmdiff command can start faster), a fresh
`python -m llmdiff generate PROMPT -o …` with the shipped model and its own settings (20 steps, 64×64), and a
fresh `llmdiff generate` refused for a bad argument (`--steps 0`). One generate run before them is not timed
(it fills the page cache and, on first use, converts the GGUF LLM once). Medians and the ratio are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOURCE = str(Path(__file__).resolve().parents[1] / "src")


def timed(command: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    return elapsed, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--prompt", default="a red circle")
    args = parser.parse_args()

    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [SOURCE, os.environ.get("PYTHONPATH")]))}
    imports = [sys.executable, "-c", "import torch, diffusers, transformers"]
    refused = [sys.executable, "-m", "llmdiff", "generate", args.prompt, "--steps", "0"]
    times: dict[str, list[float]] = {"imports": [], "generate": [], "refused": []}
    with tempfile.TemporaryDirectory() as folder:
        def generate(index: int) -> list[str]:
            return [sys.executable, "-m", "llmdiff", "generate", args.prompt, "-o", f"{folder}/{index}.png"]

        _, warm = timed(generate(-1), env)
        if warm.returncode != 0:
            sys.exit(f"llmdiff generate failed:\n{warm.stderr[-2000:]}")
        for index in range(args.repeats):
            for name, command in (("imports", imports), ("generate", generate(index)), ("refused", refused)):
                elapsed, result = timed(command, env)
                if result.returncode != (2 if name == "refused" else 0):
                    sys.exit(f"{name} run failed:\n{result.stderr[-2000:]}")
                times[name].append(elapsed)
            print(f"repeat {index + 1}: " + ", ".join(f"{name} {values[-1]:.2f} s" for name, values in times.items()),
                  flush=True)
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"median of {args.repeats}: bare imports {median['imports']:.2f} s, llmdiff generate "
          f"{median['generate']:.2f} s, refused argument {median['refused']:.2f} s")
    print(f"generate / bare imports: {median['generate'] / median['imports']:.2f} (goal ≤ 1.15); "
          f"per-repeat ratios {', '.join(f'{g / i:.2f}' for g, i in zip(times['generate'], times['imports']))}")


if __name__ == "__main__":
    main()
