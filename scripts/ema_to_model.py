"""A model folder from a checkpoint's EMA weights, for a run cut off before it exported (a machine taken back).

A checkpoint's `ema.safetensors` holds the averaged trainable weights under the trainer's names (`adapter.…`
for the connector, `llm.base_model.model.….lora_A.default.weight` for the LLM's LoRA). This writes them over
a copy of the adapter folder the run started from (its configs, text path and generation settings kept) and
puts the base beside it, so `llmdiff generate` and `llmdiff eval shapes` read the result like any model:

    python scripts/ema_to_model.py runs/x/checkpoints/step-001000/ema.safetensors runs/x-model
        [--start src/llmdiff/models/shapes]

Weights the EMA file lacks (a frozen connector) stay the start's. The adapter is written in the start's dtype.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

ADAPTER_WEIGHTS = "diffusion_pytorch_model.safetensors"
LORA_WEIGHTS = "llm_lora/adapter_model.safetensors"


def split_ema(ema: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(adapter weights, LoRA weights) under the names their saved files use."""
    adapter, lora = {}, {}
    for name, tensor in ema.items():
        if name.startswith("adapter."):
            adapter[name.removeprefix("adapter.")] = tensor
        elif name.startswith("llm."):
            lora[name.removeprefix("llm.").replace(".default.", ".")] = tensor
        elif name != "__updates__":
            raise SystemExit(f"{name}: not an adapter or LLM LoRA weight; this script writes only those")
    return adapter, lora


def overwrite(path: Path, new: dict[str, torch.Tensor]) -> None:
    """Replace every tensor of the safetensors file at `path` by `new`'s, in the file's dtypes."""
    old = load_file(str(path))
    if set(old) != set(new):
        raise SystemExit(f"{path}: the EMA weights name other tensors ({len(set(new) ^ set(old))} differ)")
    save_file({name: new[name].to(old[name].dtype).contiguous() for name in old}, str(path),
              metadata={"format": "pt"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ema", type=Path, help="a checkpoint's ema.safetensors")
    parser.add_argument("out", type=Path, help="model folder to write (must not exist)")
    parser.add_argument("--start", type=Path, default=Path("src/llmdiff/models/shapes"),
                        help="the model folder the run started from (default: the shipped shapes model)")
    args = parser.parse_args(argv)
    if args.out.exists():
        sys.exit(f"{args.out} exists; give a new folder")
    adapter, lora = split_ema(load_file(str(args.ema)))
    staging = args.out.with_name(args.out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(args.start, staging)
    try:
        if adapter:
            overwrite(staging / "adapter" / ADAPTER_WEIGHTS, adapter)
        if lora:
            overwrite(staging / "adapter" / LORA_WEIGHTS, lora)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    staging.rename(args.out)  # the folder appears whole or not at all
    print(f"wrote {args.out}: {len(adapter)} adapter and {len(lora)} LoRA tensors from {args.ema}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
