"""Full-width stage-2 step on CPU: real widths at 1-2 layers, measured beside what `llmdiff plan` predicts.

    python bench/scale.py [--batch 1] [--resolution 256] [--unet-lora-rank 8] [--llm-lora-rank 0]
                          [--checkpointing] [--json OUT] [--dry-run]

Models (random weights; their config.json files are written to a temporary folder, so the planner reads the
very configs the step runs):
- UNet: SDXL's channel widths (320, 640, 1280), cross-attention 2048, pooled 1280, with one resnet and one
  transformer layer per block (SDXL has two resnets and 1 / 2 / 10 transformer layers);
- LLM: Llama at 4096 wide (intermediate 11008, 32 heads, vocab 32000) with 2 layers;
- connector: OmniDiffusion's at its published size (487,346,688 parameters); VAE: SDXL's.
The step is stage 2 (end_to_end) as the recipe holds it: the connector learns, LoRA on the UNet (`--unet-lora-rank`)
and optionally on the LLM (`--llm-lora-rank`); learners in float32 under bf16 autocast, frozen models in
bfloat16; AdamW. Measured on the second step, once AdamW's states exist (the steady state of a run): its
seconds (forward, backward, optimizer step) and the peak of torch-allocated bytes above what was held before
it (torch's profiler), set beside the plan's gradients + activations; and the process's peak resident
memory. `--dry-run`: tiny widths, for the test suite.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SHIPPED = ROOT / "src/llmdiff/plan/hub_configs"


def write_model_configs(folder: Path, tiny: bool, unet_layers: int = 1, llm_layers: int = 2) -> tuple[Path, Path]:
    """(base folder, LLM folder) with only config files: SDXL and Llama-2 at real widths (tiny: small ones)."""
    base, llm = folder / "base", folder / "llm"
    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        (base / name).mkdir(parents=True, exist_ok=True)
        if name.startswith("text_encoder"):  # the CLIP teacher of stage 1
            clip = json.loads((SHIPPED / "stable-diffusion-xl-base-1.0" / name / "config.json").read_text())
            if tiny:
                clip.update(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2,
                            projection_dim=32)
            (base / name / "config.json").write_text(json.dumps(clip))
    index = json.loads((SHIPPED / "stable-diffusion-xl-base-1.0/model_index.json").read_text())
    (base / "model_index.json").write_text(json.dumps(index))
    unet = json.loads((SHIPPED / "stable-diffusion-xl-base-1.0/unet/config.json").read_text())
    vae = json.loads((SHIPPED / "stable-diffusion-xl-base-1.0/vae/config.json").read_text())
    llama = json.loads((SHIPPED / "Llama-2-7b-hf/config.json").read_text())
    unet.update(layers_per_block=unet_layers, transformer_layers_per_block=[1, 1, 1] if unet_layers < 2 else [1, 2, 10])
    llama.update(num_hidden_layers=llm_layers)
    if tiny:
        unet.update(block_out_channels=[32, 64, 64], attention_head_dim=[2, 4, 4], norm_num_groups=8,
                    cross_attention_dim=64, addition_time_embed_dim=8, projection_class_embeddings_input_dim=6 * 8 + 32)
        vae.update(block_out_channels=[8, 8, 8, 8], norm_num_groups=4)
        llama.update(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=4, vocab_size=1024)
    (base / "unet/config.json").write_text(json.dumps(unet))
    (base / "vae/config.json").write_text(json.dumps(vae))
    llm.mkdir(parents=True, exist_ok=True)
    (llm / "config.json").write_text(json.dumps(llama))
    return base, llm


def stage2_config(base: Path, llm: Path, args, tiny: bool):
    from llmdiff.training.config import load_config

    adapter = ({"hidden_dim": 32, "num_heads": 4, "num_layers": 1, "num_queries": 16} if tiny else {})
    connector = "llmdiff" if tiny else "omnidiffusion"
    components = ["adapter", "unet"] + (["llm"] if args.llm_lora_rank else [])
    return load_config(data={
        "stage": "end_to_end",
        "model": {"base": str(base), "llm": str(llm), "connector": connector, "adapter_config": adapter,
                  "frozen_dtype": "bfloat16", "text_encoder": {"layers": [-1], "max_length": args.text_length}},
        "data": {"train": ["unused.jsonl"], "resolution": args.resolution},
        "train": {"batch_size": args.batch, "mixed_precision": "bf16", "gradient_checkpointing": args.checkpointing,
                  "components": components, "unet_lora_rank": args.unet_lora_rank,
                  "llm_lora_rank": max(args.llm_lora_rank, 1)},
    })


def train_step(config, models, optimizer) -> None:
    from llmdiff.plan.activations import forward_pass

    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = forward_pass(config, models, torch.float32, "cpu")
    output.float().pow(2).mean().backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def peak_allocated(function) -> tuple[int, float]:
    """(peak of torch-allocated bytes while `function` runs above what was allocated before, its seconds)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        start = time.perf_counter()
        function()
        seconds = time.perf_counter() - start
    events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
                    key=lambda e: e.start_ns())
    current = peak = 0
    for event in events:
        current += event.nbytes()
        peak = max(peak, current)
    return peak, seconds


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--text-length", type=int, default=229)
    parser.add_argument("--unet-lora-rank", type=int, default=8)
    parser.add_argument("--llm-lora-rank", type=int, default=0, help="0: the LLM stays frozen")
    parser.add_argument("--checkpointing", action="store_true", help="gradient checkpointing on the learners")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--dry-run", action="store_true", help="tiny widths, a few seconds")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.resolution, args.text_length = min(args.resolution, 64), min(args.text_length, 16)

    from llmdiff.plan import make_plan
    from llmdiff.plan.components import run_models

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        base, llm = write_model_configs(Path(folder), tiny=args.dry_run)
        config = stage2_config(base, llm, args, tiny=args.dry_run)
        plan = make_plan(config, gpus=1)
        models = run_models(config, on_meta=False)
    for component in models.components:
        component.module.train(component.learns)
        if component.checkpointed and args.checkpointing:
            module = component.module.get_base_model() if hasattr(component.module, "get_base_model") else component.module
            if hasattr(module, "enable_gradient_checkpointing"):
                module.enable_gradient_checkpointing()
            else:
                module.gradient_checkpointing_enable()
    params = [p for c in models.components if c.learns for p in c.module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    weights = sum(p.numel() * p.element_size() for c in models.components for p in c.module.parameters())
    start = time.perf_counter()
    train_step(config, models, optimizer)  # first step: AdamW's states are allocated
    first = time.perf_counter() - start
    optimizer_bytes = sum(t.numel() * t.element_size() for state in optimizer.state.values() for t in state.values()
                          if torch.is_tensor(t))
    peak, seconds = peak_allocated(lambda: train_step(config, models, optimizer))
    predicted = plan.memory["ddp"]
    result = {
        "parameters": {c.name: c.parameters for c in plan.components},
        "trainable": {c.name: c.trainable for c in plan.components},
        "batch": args.batch, "resolution": args.resolution, "text_length": args.text_length,
        "checkpointing": args.checkpointing,
        "first_step_seconds": round(first, 2), "step_seconds": round(seconds, 2),
        "weights_bytes": weights, "predicted_weights_bytes": predicted.weights,
        "optimizer_bytes": optimizer_bytes, "predicted_optimizer_bytes": predicted.optimizer,
        "step_peak_bytes": peak, "predicted_gradients_and_activations_bytes": predicted.gradients + predicted.activations,
        "predicted_activations_bytes": predicted.activations,
        "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    result["ratio_measured_to_predicted"] = round(peak / result["predicted_gradients_and_activations_bytes"], 3)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    return result


if __name__ == "__main__":
    main()
