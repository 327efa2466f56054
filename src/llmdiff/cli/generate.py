"""`llmdiff generate`: paragraphs in, PNGs out."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="generate images from a prompt",
        description="Generate images with an LLM-conditioned diffusion model. Each PNG carries its prompt, "
        "seed and settings as text metadata.",
    )
    parser.add_argument("prompt", nargs="?", help="the prompt (or use --prompt-file)")
    parser.add_argument("-o", "--output", required=True, help="output PNG; several images become OUT-0.png, OUT-1.png, …")
    parser.add_argument("--prompt-file", help="read the prompt from this UTF-8 file instead")
    parser.add_argument("--negative-prompt", default=None, help="what to steer away from (default: the empty prompt)")
    parser.add_argument("--base", help="diffusers SD1.5/SDXL-format model: local dir or hub id "
                        "(default: the shipped shapes-world model)")
    parser.add_argument("--llm", help="LLM: local dir, hub id or .gguf file (default: SmolLM2-135M-Instruct)")
    parser.add_argument("--adapter", help="adapter dir (default: the shipped model's with no --base, "
                        "else a freshly initialised, untrained one)")
    parser.add_argument("--steps", type=int, help="denoising steps (default: the model's, else 30)")
    parser.add_argument("--guidance", type=float, help="classifier-free guidance scale (default: the model's, "
                        "e.g. 2 for the shipped model, else 7.5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first image; image i uses seed+i (default 0)")
    parser.add_argument("--width", type=int, help="image width, a multiple of 8 (default: the model's)")
    parser.add_argument("--height", type=int, help="image height, a multiple of 8 (default: the model's)")
    parser.add_argument("--num-images", type=int, default=1, help="images to generate (default 1)")
    parser.add_argument("--max-length", type=int, help="most LLM tokens a prompt keeps (default: the adapter's, else 512)")
    parser.add_argument("--strict", action="store_true", help="fail instead of truncating a prompt over the limit")
    parser.add_argument("--trust-remote-code", action="store_true", help="let an LLM that ships its own modelling "
                        "code run it (refused otherwise; only for a source you trust)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    parser.add_argument("--dtype", default="auto", help="auto, float32, float16 or bfloat16 (default auto)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.set_defaults(func=generate)


def generate(args: argparse.Namespace) -> int:
    from llmdiff.errors import UserError
    from llmdiff.images import check_writable, numbered_paths
    from llmdiff.pipeline import check_generation_args
    from llmdiff.prompts import read_prompt_file
    from llmdiff.text_encoder import validate_prompt

    if (args.prompt is None) == (args.prompt_file is None):
        raise UserError("give a prompt or --prompt-file (exactly one of them)")
    prompt = read_prompt_file(args.prompt_file) if args.prompt_file else args.prompt
    validate_prompt(prompt)
    if args.negative_prompt is not None:
        validate_prompt(args.negative_prompt)
    check_generation_args(args.steps, args.guidance, args.height, args.width, args.num_images)
    if args.max_length is not None and args.max_length < 1:
        raise UserError(f"--max-length must be at least 1, not {args.max_length}")
    paths = numbered_paths(args.output, args.num_images)
    check_writable(paths, args.overwrite)  # before loading anything: fail in a second, not a minute

    pipe, sources = _load_pipeline(args)
    # Settings left out are the model's own (its adapter's generation_config.json), recorded as used.
    args.steps, args.guidance = pipe.defaults.fill(args.steps, args.guidance)
    result = pipe(
        prompt,
        negative_prompt=args.negative_prompt,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
        seed=args.seed,
        height=args.height,
        width=args.width,
        num_images_per_prompt=args.num_images,
    )
    _save_all(pipe, result, paths, args, sources)
    for path in paths:
        print(path)
    return 0


def _load_pipeline(args):
    from dataclasses import replace

    from llmdiff.defaults import with_default_model
    from llmdiff.devices import resolve_device, resolve_dtype
    from llmdiff.errors import UserError
    from llmdiff.pipeline import LLMDiffusionPipeline, load_text_encoder_config
    from llmdiff.text_encoder import TextEncoderConfig

    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    # Loading bars for a few files are noise on the command line; the denoising bar stays.
    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    base, adapter = with_default_model(args.base, args.adapter)
    if base is None:
        raise UserError(
            "--base is required: no default model is installed yet; pass a diffusers SD1.5- or "
            "SDXL-format model directory or hub id"
        )
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    _, saved = load_text_encoder_config(adapter) if adapter else (None, None)
    config = saved or TextEncoderConfig()
    if args.max_length is not None or args.strict:
        config = replace(config, max_length=args.max_length or config.max_length, strict=args.strict)
    # Only the flag grants this; a saved adapter folder cannot (load_text_encoder_config drops it).
    config = replace(config, trust_remote_code=args.trust_remote_code)
    pipe = LLMDiffusionPipeline.from_pretrained(
        base=base, llm=args.llm, adapter=adapter, text_encoder_config=config, dtype=dtype, device=device
    )
    return pipe, {"base": base, "llm": pipe.text_encoder.name, "adapter": adapter or "untrained"}


def _save_all(pipe, result, paths, args, sources) -> None:
    from llmdiff import __version__
    from llmdiff.images import save_png

    scheduler = type(pipe.scheduler).__name__
    for path, image, prompt, seed in zip(paths, result.images, result.prompts, result.seeds):
        metadata = {
            "prompt": prompt,
            "negative_prompt": args.negative_prompt or "",
            "seed": seed,
            "steps": args.steps,
            "guidance_scale": args.guidance,
            "width": image.width,
            "height": image.height,
            "scheduler": scheduler,
            "llm_tokens": result.token_counts[0],
            "llm_tokens_dropped": result.dropped_tokens[0],
            **sources,
            "llmdiff_version": __version__,
        }
        save_png(image, path, metadata)
