"""Wall time of `llmdiff generate` with the shipped model against bare imports of its libraries, in one run.

    python bench/bench_startup.py [--repeats 7] [--prompt "a red circle"] [--before SRC]

Each repeat runs, interleaved so that other load on the machine falls on every side alike: a fresh
`python -c "import torch, diffusers, transformers"` (the floor: no llmdiff command can start faster), a fresh
import of the model classes a Stable Diffusion pipeline with a Llama LLM is built from (`classes`: what the
libraries cost before any weight is read, since their top-level imports are lazy), a fresh
`python -m llmdiff generate PROMPT -o …` with the shipped model and its own settings (20 steps, 64×64), and a
fresh `llmdiff generate` refused for a bad argument (`--steps 0`), and with `--before SRC` the same generate
with the llmdiff sources in SRC (e.g. `git archive COMMIT src | tar -x -C /tmp/before`, then
`--before /tmp/before/src`). One generate run before them is not timed
(it fills the page cache and, on first use, converts the GGUF LLM once). Medians and the ratio are printed.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOURCE = str(Path(__file__).resolve().parents[1] / "src")


CPU_TIMES: dict[str, list[float]] = {}
"""CPU seconds (user + system) of each side's runs: steadier than wall time when others load the machine."""


def timed(command: list[str], env: dict, name: str = "") -> tuple[float, subprocess.CompletedProcess]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if name:
        used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        CPU_TIMES.setdefault(name, []).append(used)
    return elapsed, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--prompt", default="a red circle")
    parser.add_argument("--before", metavar="SRC", help="also time generate with the llmdiff sources in SRC")
    args = parser.parse_args()

    def environment(source: str) -> dict:
        return {**os.environ, "HF_HUB_OFFLINE": "1",
                "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))}

    env = environment(SOURCE)
    imports = [sys.executable, "-c", "import torch, diffusers, transformers"]
    classes = [sys.executable, "-c", "import torch, diffusers, transformers; "
               "from diffusers import StableDiffusionPipeline, UNet2DConditionModel, AutoencoderKL; "
               "from transformers import AutoTokenizer, LlamaForCausalLM"]
    refused = [sys.executable, "-m", "llmdiff", "generate", args.prompt, "--steps", "0"]
    times: dict[str, list[float]] = {"imports": [], "classes": [], "generate": [], "refused": []}
    sides = {"imports": env, "classes": env, "generate": env, "refused": env}
    if args.before:
        times["before"] = []
        sides["before"] = environment(str(Path(args.before).resolve()))
    with tempfile.TemporaryDirectory() as folder:
        def generate(index: int) -> list[str]:
            return [sys.executable, "-m", "llmdiff", "generate", args.prompt, "-o", f"{folder}/{index}.png"]

        for name in ("generate", "before")[: len(times) - 3]:
            _, warm = timed(generate(f"warm-{name}"), sides[name])
            if warm.returncode != 0:
                sys.exit(f"llmdiff generate failed:\n{warm.stderr[-2000:]}")
        for index in range(args.repeats):
            commands = {"imports": imports, "classes": classes, "generate": generate(index), "refused": refused,
                        "before": generate(f"before-{index}")}
            for name in times:
                elapsed, result = timed(commands[name], sides[name], name)
                if result.returncode != (2 if name == "refused" else 0):
                    sys.exit(f"{name} run failed:\n{result.stderr[-2000:]}")
                times[name].append(elapsed)
            print(f"repeat {index + 1}: " + ", ".join(f"{name} {values[-1]:.2f} s" for name, values in times.items()),
                  flush=True)
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"median of {args.repeats}: bare imports {median['imports']:.2f} s, model classes "
          f"{median['classes']:.2f} s, llmdiff generate {median['generate']:.2f} s, refused argument "
          f"{median['refused']:.2f} s")
    print(f"model classes / bare imports: {median['classes'] / median['imports']:.2f} (what the libraries "
          f"alone cost beyond the floor)")
    for name in ("generate", "before")[: len(times) - 3]:
        ratios = ", ".join(f"{g / i:.2f}" for g, i in zip(times[name], times["imports"]))
        print(f"{name} / bare imports: {median[name] / median['imports']:.2f} (goal ≤ 1.15; median "
              f"{median[name]:.2f} s); per-repeat ratios {ratios}; {name} / model classes "
              f"{median[name] / median['classes']:.2f}")
    cpu = {name: statistics.median(values) for name, values in CPU_TIMES.items()}
    print("median CPU seconds: " + ", ".join(f"{name} {value:.2f}" for name, value in cpu.items()) + "; "
          + ", ".join(f"{name} / bare imports {cpu[name] / cpu['imports']:.2f}" for name in ("generate", "before")
                      if name in cpu) + f"; model classes / bare imports {cpu['classes'] / cpu['imports']:.2f}")


if __name__ == "__main__":
    main()
