"""Conditioning overhead: LLM + adapter versus the base pipeline's own CLIP encoder.

Same tiny SD1.5-shaped UNet, VAE, scheduler, steps, batch and seeds in one run; only the text
conditioning differs. Prints the time of each and the overhead ratio.

    python bench/bench_conditioning.py [--steps 20] [--batch 1] [--repeats 5] [--queries 77] [--llm tiny|default|PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from llmdiff.loading import load_llm_tokenizer  # noqa: E402
from llmdiff.pipeline import LLMDiffusionPipeline  # noqa: E402
from llmdiff.testing import make_tiny_base, make_tiny_llm  # noqa: E402

PROMPT = (
    "A large red circle rests in the upper left corner, a small blue triangle sits beside it, and two green "
    "squares wait quietly near the bottom edge of a calm grey background."
)


def interleaved_medians(repeats: int, runs: list) -> list[float]:
    """Median time of each run, alternating them so that load on the machine hits both alike."""
    for run in runs:
        run()  # warm-up: first calls allocate and pick kernels
    times = [[] for _ in runs]
    for _ in range(repeats):
        for run, samples in zip(runs, times):
            start = time.perf_counter()
            run()
            samples.append(time.perf_counter() - start)
    return [statistics.median(samples) for samples in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--queries", type=int, default=77, help="adapter output tokens (77 = CLIP's length)")
    parser.add_argument("--llm", default="tiny", help="tiny (a 3-layer Llama), default (SmolLM2-135M) or a path")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as root:
        base = make_tiny_base(Path(root) / "sd", "sd")
        if args.llm == "tiny":
            llm = str(make_tiny_llm(Path(root) / "llm", "llama", tokenizer=load_llm_tokenizer(None)))
        else:
            llm = None if args.llm == "default" else args.llm
        pipe = LLMDiffusionPipeline.from_pretrained(
            base=base, llm=llm, with_clip=True, adapter_config={"num_queries": args.queries}
        )
        prompts = [PROMPT] * args.batch
        settings = dict(num_inference_steps=args.steps, height=32, width=32, output_type="np")
        pipe.base.set_progress_bar_config(disable=True)

        def clip_run():
            generator = [torch.Generator().manual_seed(i) for i in range(args.batch)]
            pipe.base(prompts, generator=generator, **settings)

        def llm_run():
            pipe(prompts, seed=0, progress=False, **settings)

        clip_time, llm_time = interleaved_medians(args.repeats, [clip_run, llm_run])
    overhead = llm_time / clip_time - 1
    print(f"llm={args.llm} queries={args.queries} steps={args.steps} batch={args.batch} threads={torch.get_num_threads()}")
    print(f"CLIP pipeline:          {clip_time * 1000:8.1f} ms (median of {args.repeats})")
    print(f"LLM + adapter pipeline: {llm_time * 1000:8.1f} ms")
    print(f"conditioning overhead:  {overhead * 100:+.1f}% of the CLIP pipeline's time")


if __name__ == "__main__":
    main()
