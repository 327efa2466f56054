"""Full-size training steps and 1024² generation on one GPU with random weights, beside `llmdiff plan`.

    bash bench/gpu_scale.sh [--dry-run] [--steps 3] [--batch 4] [--json OUT]

Models, random weights, built from the shipped configs (`src/llmdiff/plan/hub_configs`): SDXL's UNet and VAE,
Llama-2-7B's shape as the LLM (a 7B-shaped LLM: Baichuan2-7B has the same layer shapes), OmniDiffusion's
connector at its published size; learners in float32 under bf16 autocast, frozen models in bfloat16,
gradient checkpointing on the learners, AdamW. Each training stage is timed over `--steps` steps after one
warm-up step (steps/s) with `torch.cuda.max_memory_allocated` as its peak:
- stage 1: the connector learns (LLM frozen; a squared-output loss stands in for the CLIP teacher's MSE,
  whose targets the recipe reads from a cache), text only, batch `--stage1-batch`;
- stage 2: connector + whole UNet, diffusion step at 1024², batch `--batch`;
- stage 2 + LoRA (rank 16, every linear layer) on the LLM.
Generation: one 1024² image, 30 steps, guidance 5 (classifier-free: two UNet passes per step), through
llmdiff's `LLMDiffusionPipeline` on a stock diffusers `StableDiffusionXLPipeline`; seconds per image and
peak memory while denoising and decoding, with the LLM on the GPU throughout and with the LLM offloaded
(on the GPU only to encode the prompt, moved back to the CPU as the UNet starts). `--dry-run`: tiny widths
on the CPU, a few seconds (the test suite runs it).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

GiB = 2**30


def stage_config(stage: str, components: list[str], base: str, llm: str, args, tiny: bool, llm_lora: int = 0):
    from llmdiff.training.config import load_config

    adapter = {"hidden_dim": 32, "num_heads": 4, "num_layers": 1} if tiny else {}
    if tiny and stage != "align":  # stage 1 takes as many queries as the CLIP teacher gives positions
        adapter["num_queries"] = 16
    return load_config(data={
        "stage": stage,
        "model": {"base": base, "llm": llm, "connector": "llmdiff" if tiny else "omnidiffusion",
                  "adapter_config": adapter, "frozen_dtype": "bfloat16",
                  "text_encoder": {"layers": [-1], "max_length": args.text_length}},
        "data": {"train": ["unused.jsonl"], "resolution": args.resolution, "image_field": "jpg" if stage != "align" else None},
        "train": {"batch_size": args.stage1_batch if stage == "align" else args.batch, "mixed_precision": "bf16",
                  "gradient_checkpointing": True, "components": components, "llm_lora_rank": llm_lora or 1},
        "loss": {"teacher_chunks": 3 if not tiny else 1},
    })


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _reset_peak(device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak(device) -> int | None:
    return torch.cuda.max_memory_allocated() if device.type == "cuda" else None


def build(config, device):
    from llmdiff.plan.components import run_models

    with torch.device(device):
        models = run_models(config, on_meta=False)
    for component in models.components:
        component.module.to(device).train(component.learns)
        if component.checkpointed:
            module = component.module.get_base_model() if hasattr(component.module, "get_base_model") else component.module
            if hasattr(module, "enable_gradient_checkpointing"):
                module.enable_gradient_checkpointing()
            else:
                module.gradient_checkpointing_enable()
    return models


def train_stage(name: str, config, device, steps: int, warm_up: bool = True) -> dict:
    from llmdiff.plan import make_plan
    from llmdiff.plan.activations import forward_pass

    plan = make_plan(config, gpus=1)
    _reset_peak(device)
    models = build(config, device)
    params = [p for c in models.components if c.learns for p in c.module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16):
            output = forward_pass(config, models, torch.float32, device)
        output.float().pow(2).mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    if warm_up:
        step()  # kernels chosen, AdamW's states allocated
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    seconds = time.perf_counter() - start
    result = {"stage": name, "batch": config.train.batch_size, "steps_per_second": round(steps / seconds, 3),
              "peak_gib": None if _peak(device) is None else round(_peak(device) / GiB, 2),
              "predicted_gib": round(plan.memory["ddp"].total / GiB, 2),
              "trainable": sum(c.trainable for c in plan.components)}
    del models, optimizer, params
    _reset_peak(device)
    return result


def generation(base: str, llm: str, args, device, tiny: bool, offload: bool, warm_up: bool = True) -> dict:
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline

    from llmdiff.pipeline import LLMDiffusionPipeline
    from llmdiff.testing import make_clip_tokenizer
    from llmdiff.text_encoder import LLMTextEncoder, TextEncoderConfig

    config = stage_config("end_to_end", ["adapter"], base, llm, args, tiny)
    _reset_peak(device)
    models = build(config, device)
    for component in models.components:
        component.module.to(torch.bfloat16).eval().requires_grad_(False)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="leading")
    pipe = StableDiffusionXLPipeline(vae=models.get("vae").module, text_encoder=None, text_encoder_2=None,
                                     tokenizer=None, tokenizer_2=None, unet=models.get("unet").module,
                                     scheduler=scheduler)
    with tempfile.TemporaryDirectory() as folder:
        tokenizer = make_clip_tokenizer(Path(folder) / "tokenizer", words=("a", "red", "fox"))
        from transformers import CLIPTokenizer

        tokenizer = CLIPTokenizer.from_pretrained(str(tokenizer))
    encoder = LLMTextEncoder(models.get("llm").module, tokenizer,
                             TextEncoderConfig(layers=(-1,), max_length=args.text_length))
    generator = LLMDiffusionPipeline(pipe, encoder, models.get("adapter").module, models.info)
    size = 64 if tiny else 1024
    steps = 2 if tiny else 30
    llm = encoder.model
    if offload:
        def send_llm_back(module, inputs):
            if next(llm.parameters()).device.type != "cpu":
                llm.to("cpu")
                _reset_peak(device)  # the peak while denoising and decoding
        hook = pipe.unet.register_forward_pre_hook(send_llm_back)
    prompt = "a red fox reading a newspaper on a park bench, autumn light"

    def one_image():
        if offload:
            llm.to(device)
        generator(prompt, num_inference_steps=steps, guidance_scale=5.0, seed=0, height=size, width=size,
                  output_type="pil", progress=False)

    if warm_up:
        one_image()
    _sync(device)
    _reset_peak(device)
    start = time.perf_counter()
    one_image()
    _sync(device)
    seconds = time.perf_counter() - start
    peak = _peak(device)
    if offload:
        hook.remove()
    del generator, pipe, encoder, models, llm
    _reset_peak(device)
    return {"generation": "LLM offloaded" if offload else "LLM on the GPU", "size": size, "steps": steps,
            "guidance": 5.0, "seconds_per_image": round(seconds, 2),
            "peak_gib": None if peak is None else round(peak / GiB, 2)}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="timed steps per stage, after one warm-up step")
    parser.add_argument("--batch", type=int, default=4, help="images per step in stage 2")
    parser.add_argument("--stage1-batch", type=int, default=64, help="captions per step in stage 1")
    parser.add_argument("--resolution", type=int, default=1024)
    parser.add_argument("--text-length", type=int, default=229)
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--dry-run", action="store_true", help="tiny widths on the CPU")
    args = parser.parse_args(argv)
    tiny = args.dry_run
    if tiny:
        args.steps, args.batch, args.stage1_batch, args.resolution, args.text_length = 1, 1, 2, 64, 16
    device = torch.device("cpu" if tiny or not torch.cuda.is_available() else "cuda")
    if device.type == "cpu" and not tiny:
        raise SystemExit("no GPU: run with --dry-run, or on a machine with one")
    torch.manual_seed(0)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        if tiny:
            from scale import write_model_configs

            base, llm = (str(p) for p in write_model_configs(Path(folder), tiny=True))
        else:
            base, llm = "stabilityai/stable-diffusion-xl-base-1.0", "meta-llama/Llama-2-7b-hf"
        stages = [("stage 1: connector", stage_config("align", ["adapter"], base, llm, args, tiny)),
                  ("stage 2: connector + UNet", stage_config("end_to_end", ["adapter", "unet"], base, llm, args, tiny)),
                  ("stage 2 + LLM LoRA 16", stage_config("end_to_end", ["adapter", "unet", "llm"], base, llm, args,
                                                         tiny, llm_lora=16))]
        for name, config in stages:
            results.append(train_stage(name, config, device, args.steps, warm_up=not tiny))
            print(json.dumps(results[-1]), flush=True)
        for offload in (False, True):
            results.append(generation(base, llm, args, device, tiny, offload, warm_up=not tiny))
            print(json.dumps(results[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
