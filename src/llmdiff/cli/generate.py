"""`llmdiff generate`: paragraphs in, PNGs out.

Every argument that can be checked without a model is checked before torch, diffusers and transformers are
imported (seconds on their own), so a mistake is reported at once. Then one "loading …" line on stderr says
what the wait is for; the denoising bar shows only on a terminal, and a one-line summary follows it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DEFAULT_OUTPUT_STEM = "llmdiff"
"""Without -o, images are saved in the current folder as llmdiff-SEED.png (the next free name if taken)."""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="generate images from a prompt",
        description="Generate images with an LLM-conditioned diffusion model. Each PNG carries its prompt, "
        "seed and settings as text metadata.",
    )
    parser.add_argument("prompt", nargs="?", help="the prompt (or use --prompt-file)")
    parser.add_argument("-o", "--output", help="output PNG; several images become OUT-0.png, OUT-1.png, … "
                        "(default: llmdiff-SEED.png in the current folder, never replacing a file there)")
    parser.add_argument("--prompt-file", help="read the prompt from this UTF-8 file instead")
    parser.add_argument("--negative-prompt", default=None, help="what to steer away from (default: the empty prompt)")
    parser.add_argument("--model", metavar="DIR", help="model folder holding base/ and adapter/ (and llm/ if the "
                        "LLM ships with it), instead of --base and --adapter")
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
    parser.add_argument("--quantize", choices=("int8", "int4"), help="load the LLM's weights in 8 or 4 bits "
                        "(needs bitsandbytes; default: the adapter's setting, else full precision)")
    parser.add_argument("--clip-tokens", action="store_true", help="put the base model's own CLIP tokens after the "
                        "connector's (keeps LoRA trigger words working; loads the CLIP encoders)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    parser.add_argument("--dtype", default="auto", help="auto, float32, float16 or bfloat16 (default auto)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.set_defaults(func=generate)


def generate(args: argparse.Namespace) -> int:
    # Only light modules here: no model library is imported until every check has passed.
    from llmdiff.checks import check_generation_args, validate_prompt
    from llmdiff.errors import UserError
    from llmdiff.images import check_writable, numbered_paths
    from llmdiff.prompts import read_prompt_file

    if (args.prompt is None) == (args.prompt_file is None):
        raise UserError("give a prompt or --prompt-file (exactly one of them)")
    prompt = read_prompt_file(args.prompt_file) if args.prompt_file else args.prompt
    validate_prompt(prompt)
    if args.negative_prompt is not None:
        validate_prompt(args.negative_prompt)
    check_generation_args(args.steps, args.guidance, args.height, args.width, args.num_images)
    if args.max_length is not None and args.max_length < 1:
        raise UserError(f"--max-length must be at least 1, not {args.max_length}")
    if args.output is not None:
        paths = numbered_paths(args.output, args.num_images)
        check_writable(paths, args.overwrite)
    else:
        paths = default_output_paths(Path.cwd(), args.seed, args.num_images)
    model_sources_checked(args)

    pipe, sources = _load_pipeline(args)
    # Settings left out are the model's own (its adapter's generation_config.json), recorded as used.
    args.steps, args.guidance = pipe.defaults.fill(args.steps, args.guidance)
    started = time.perf_counter()
    result = pipe(
        prompt,
        negative_prompt=args.negative_prompt,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
        seed=args.seed,
        height=args.height,
        width=args.width,
        num_images_per_prompt=args.num_images,
        progress=sys.stderr.isatty(),  # a bar redrawn with \r is garbage in a log or a pipe
    )
    images = "1 image" if args.num_images == 1 else f"{args.num_images} images"
    print(f"{images}: {args.steps} steps in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    if args.output is None:
        # Another run may have taken a name since the check: choose again, still never replacing a file.
        paths = default_output_paths(Path.cwd(), args.seed, args.num_images)
    _save_all(pipe, result, paths, args, sources)
    for path in paths:
        print(path)
    return 0


def default_output_paths(folder: Path, seed: int, count: int) -> list[Path]:
    """llmdiff-SEED.png for each image (image i has seed SEED+i); llmdiff-SEED-2.png, -3, … when taken."""
    paths: list[Path] = []
    for index in range(count):
        stem = f"{DEFAULT_OUTPUT_STEM}-{seed + index}"
        path, number = folder / f"{stem}.png", 1
        while path.exists() or path in paths:
            number += 1
            path = folder / f"{stem}-{number}.png"
        paths.append(path)
    return paths


def model_sources_checked(args: argparse.Namespace) -> tuple:
    """(base, adapter, llm) as named or defaulted, each local path checked to exist; imports no model library."""
    from llmdiff.defaults import with_default_model
    from llmdiff.errors import UserError
    from llmdiff.loading import LLMSource, check_source
    from llmdiff.model_dir import model_sources

    base, adapter, llm = model_sources(args.model, args.base, args.adapter, args.llm)
    base, adapter = with_default_model(base, adapter)
    if base is None:
        raise UserError(
            "--base is required: no default model is installed yet; pass a diffusers SD1.5- or "
            "SDXL-format model directory or hub id"
        )
    check_source("base model", base)
    if adapter is not None:
        check_source("adapter", adapter)
    if llm is not None:  # None: the adapter's own LLM, named in its folder, checked when it loads
        LLMSource.parse(llm)
    return base, adapter, llm


def _describe_model(args: argparse.Namespace, base: str, adapter: str | None) -> str:
    from llmdiff.defaults import default_model_dir

    if args.model is not None:
        return args.model
    default = default_model_dir()
    if args.base is None and default is not None and adapter == str(default / "adapter"):
        return "the shipped shapes model"
    return f"{base} with {adapter or 'an untrained adapter'}"


def _load_pipeline(args):
    base, adapter, llm = model_sources_checked(args)
    # Said before the model libraries are imported: together with the load, the first wait is seconds long
    # (far longer on first use of a GGUF LLM, which is converted once).
    print(f"loading {_describe_model(args, base, adapter)} …", file=sys.stderr, flush=True)

    from dataclasses import replace

    from llmdiff.devices import resolve_device, resolve_dtype
    from llmdiff.pipeline import LLMDiffusionPipeline, load_text_encoder_config
    from llmdiff.text_encoder import TextEncoderConfig

    from llmdiff.cli.quiet import hide_loading_bars

    # The denoising bar stays on a terminal.
    hide_loading_bars()
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    _, saved = load_text_encoder_config(adapter) if adapter else (None, None)
    config = saved or TextEncoderConfig()
    if args.max_length is not None or args.strict:
        config = replace(config, max_length=args.max_length or config.max_length, strict=args.strict)
    # Only the flag grants this; a saved adapter folder cannot (load_text_encoder_config drops it).
    config = replace(config, trust_remote_code=args.trust_remote_code)
    if args.quantize is not None:
        config = replace(config, quantize=args.quantize)
    clip_tokens = getattr(args, "clip_tokens", False)  # `llmdiff serve` shares this loader without the option
    pipe = LLMDiffusionPipeline.from_pretrained(
        base=base, llm=llm, adapter=adapter, text_encoder_config=config, dtype=dtype, device=device,
        append_clip_tokens=clip_tokens,
    )
    sources = {"base": base, "llm": pipe.text_encoder.name, "adapter": adapter or "untrained"}
    if clip_tokens:
        sources["clip_tokens"] = True
    return pipe, sources


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
