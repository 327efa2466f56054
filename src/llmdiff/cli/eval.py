"""`llmdiff eval`: a command group over one run directory (see llmdiff.eval.run_dir).

    llmdiff eval prompts SOURCE -o RUN    freeze a prompt selection into RUN/prompts.jsonl
    llmdiff eval generate RUN [--model]   ours and baseline images, same seeds, resumable
    llmdiff eval stats RUN                token counts, CLIP truncation, length histogram
    llmdiff eval metrics RUN --clip ...   CLIP score, aesthetic score, FID, KID
    llmdiff eval report RUN               report.json, report.md, report.html

More `eval` subcommands live in their own modules, listed in EVAL_COMMAND_MODULES; each exposes
`register(subparsers)` receiving the group's subparsers, exactly as top-level commands do.
"""

from __future__ import annotations

import argparse

# Modules that add further `llmdiff eval` subcommands (e.g. "llmdiff.cli.eval_shapes").
EVAL_COMMAND_MODULES: tuple[str, ...] = ("llmdiff.cli.eval_shapes",)


def register(subparsers) -> None:
    import importlib

    parser = subparsers.add_parser(
        "eval",
        help="evaluate a model against its base model on prompt sets",
        description="Benchmarks over prompt sets: generate with our pipeline and the base model's own CLIP "
        "pipeline with identical seeds, then prompt statistics, metrics and a report.",
    )
    commands = parser.add_subparsers(dest="eval_command", required=True, metavar="EVAL_COMMAND")
    for add in (_register_prompts, _register_generate, _register_stats, _register_metrics, _register_report):
        add(commands)
    for module_name in EVAL_COMMAND_MODULES:
        importlib.import_module(module_name).register(commands)


def _register_prompts(commands) -> None:
    parser = commands.add_parser(
        "prompts", help="choose prompts from a prompt set", description="Read a prompt file (ParaPrompts-400 CSV, "
        "DPG-Bench JSONL, PartiPrompts TSV, or any CSV/TSV/JSONL with a prompt column, or TXT with one prompt a "
        "line) and write the selection to RUN/prompts.jsonl.",
    )
    parser.add_argument("source", help="prompt file: .csv, .tsv, .jsonl or .txt")
    parser.add_argument("-o", "--output", required=True, metavar="RUN", help="run directory (created if needed)")
    parser.add_argument("--language", default="en", help="prompt language column: en, zh, or CODE for a "
                        "prompt_CODE column (default en)")
    parser.add_argument("--column", help="exact name of the prompt column (overrides --language)")
    parser.add_argument("--limit", type=int, help="keep at most this many prompts")
    parser.add_argument("--sample-seed", type=int, help="with --limit: a random subset drawn with this seed "
                        "(default: the first prompts)")
    parser.add_argument("--category", action="append", default=[], help="keep only this category (repeatable)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing RUN/prompts.jsonl")
    parser.set_defaults(func=prompts_command)


def prompts_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from llmdiff.errors import UserError
    from llmdiff.eval.prompts import PromptSelection, load_prompts, write_prompts
    from llmdiff.eval.run_dir import RunDir

    selection = PromptSelection(language=args.language, column=args.column, limit=args.limit,
                                sample_seed=args.sample_seed, categories=tuple(args.category))
    records = load_prompts(args.source, selection)
    run = RunDir(Path(args.output))
    if run.prompts.exists() and not args.overwrite:
        raise UserError(f"'{run.prompts}' already exists; pass --overwrite to replace it (images made for other "
                        "prompts are then refused, not reused)")
    run.root.mkdir(parents=True, exist_ok=True)
    write_prompts(run.prompts, records)
    print(f"{len(records)} prompts -> {run.prompts}")
    return 0


def _register_generate(commands) -> None:
    parser = commands.add_parser(
        "generate", help="generate ours and baseline images", description="Generate every prompt of RUN with "
        "our pipeline (RUN/images/ours) and with the base model's stock pipeline and its CLIP encoder, which "
        "keeps 77 tokens (RUN/images/baseline). Prompt row i uses seed+i in both. Images already written with "
        "the same settings are skipped, so an interrupted run resumes.",
    )
    parser.add_argument("run", metavar="RUN", help="run directory made by `llmdiff eval prompts`")
    parser.add_argument("--model", metavar="DIR", help="model folder holding base/ and adapter/ (and llm/ if the "
                        "LLM ships with it), instead of --base and --adapter")
    parser.add_argument("--base", help="diffusers SD1.5/SDXL-format model: local dir or hub id (default: the "
                        "shipped shapes-world model)")
    parser.add_argument("--llm", help="LLM: local dir, hub id or .gguf (default: the adapter's, else SmolLM2)")
    parser.add_argument("--adapter", help="adapter dir (default: the shipped model's with no --base; a --base "
                        "needs one, or --untrained-adapter)")
    parser.add_argument("--untrained-adapter", action="store_true", help="draw ours with a freshly initialised, "
                        "untrained adapter (plumbing checks only: its images follow no prompt)")
    parser.add_argument("--steps", type=int, help="denoising steps (default: the model's, from its adapter's "
                        "generation_config.json, else 30)")
    parser.add_argument("--guidance", type=float, help="guidance scale (default: the model's, e.g. 2 for the "
                        "shipped model, else 7.5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of prompt row 0 (default 0)")
    parser.add_argument("--width", type=int, help="image width (default: the model's)")
    parser.add_argument("--height", type=int, help="image height (default: the model's)")
    parser.add_argument("--batch-size", type=int, default=1, help="prompts per pipeline call (default 1)")
    parser.add_argument("--systems", default="ours,baseline", help="comma-separated: ours, baseline (default both)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    parser.add_argument("--dtype", default="auto", help="auto, float32, float16 or bfloat16 (default auto)")
    parser.set_defaults(func=generate_command)


def generate_command(args: argparse.Namespace) -> int:
    from llmdiff.cli.quiet import hide_loading_bars
    from llmdiff.eval.generate import GenerateConfig, generate_run
    from llmdiff.eval.prompts import read_prompts
    from llmdiff.eval.run_dir import RunDir
    from llmdiff.errors import UserError
    from llmdiff.defaults import with_default_model
    from llmdiff.model_dir import model_sources
    from llmdiff.pipeline import GenerationDefaults, check_generation_args

    base, adapter, llm = model_sources(args.model, args.base, args.adapter, args.llm)
    systems = tuple(s.strip() for s in args.systems.split(",") if s.strip())
    if args.untrained_adapter:
        if adapter is not None:
            raise UserError("--untrained-adapter draws without a trained adapter; drop it, or drop --adapter/--model")
        if base is None:
            raise UserError("--untrained-adapter needs the base model it conditions: --base")
    base, adapter = with_default_model(base, None if args.untrained_adapter else adapter)
    if base is None:
        raise UserError("name the model: --model DIR, or --base with --adapter (no shipped model is installed)")
    if adapter is None and not args.untrained_adapter and "ours" in systems:
        raise UserError(f"--base {base} has no adapter: name --adapter DIR (or --model DIR), or pass "
                        "--untrained-adapter for an untrained one")
    run = RunDir.existing(args.run)
    records = read_prompts(run.prompts)
    check_generation_args(args.steps, args.guidance, args.height, args.width, 1)
    # Settings left out are the model's own (its adapter's generation_config.json), as `llmdiff generate` does.
    steps, guidance = (GenerationDefaults.load(adapter) if adapter else GenerationDefaults()).fill(
        args.steps, args.guidance)
    config = GenerateConfig(
        base=base, llm=llm, adapter=adapter, steps=steps, guidance=guidance, seed=args.seed,
        height=args.height, width=args.width, batch_size=args.batch_size,
        systems=systems, device=args.device, dtype=args.dtype,
    )
    hide_loading_bars()
    summary = generate_run(run, records, config)
    print(f"{config.steps} steps, guidance {config.guidance:g}")
    for system in config.systems:
        print(f"{system}: {summary.generated[system]} generated, {summary.skipped[system]} already there")
    return 0


def _register_stats(commands) -> None:
    parser = commands.add_parser(
        "stats", help="prompt token counts and CLIP truncation", description="Count each prompt's tokens in the "
        "CLIP tokenizer and the LLM tokenizer, the share CLIP drops, and draw a length histogram; writes "
        "RUN/stats.json and RUN/length_histogram.png.",
    )
    parser.add_argument("run", metavar="RUN", help="run directory made by `llmdiff eval prompts`")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--base", help="base model whose tokenizer/ subfolder is the CLIP tokenizer")
    source.add_argument("--clip-tokenizer", help="CLIP tokenizer: local dir or hub id")
    parser.add_argument("--llm", help="LLM whose tokenizer to count with (default: SmolLM2)")
    parser.set_defaults(func=stats_command)


def stats_command(args: argparse.Namespace) -> int:
    import json

    from transformers import CLIPTokenizer

    from llmdiff.eval.prompt_stats import prompt_stats, save_histogram
    from llmdiff.eval.prompts import read_prompts
    from llmdiff.eval.run_dir import RunDir
    from llmdiff.loading import check_source, load_llm_tokenizer, user_errors

    run = RunDir.existing(args.run)
    records = read_prompts(run.prompts)
    source = args.clip_tokenizer or args.base
    check_source("CLIP tokenizer", source)
    with user_errors("CLIP tokenizer", source):
        clip = CLIPTokenizer.from_pretrained(source, **({} if args.clip_tokenizer else {"subfolder": "tokenizer"}))
    stats = prompt_stats(records, clip, load_llm_tokenizer(args.llm))
    run.stats.write_text(json.dumps(stats.to_json(), indent=2) + "\n", encoding="utf-8")
    _save_histogram(save_histogram, stats, run.histogram)
    summary = stats.summary()
    print(f"{summary['count']} prompts; CLIP tokens mean {summary['clip_tokens']['mean']:.1f}, LLM tokens mean "
          f"{summary['llm_tokens']['mean']:.1f}; CLIP truncates {summary['share_truncated_by_clip']:.1%} of prompts")
    print(run.stats)
    return 0


def _save_histogram(save, stats, path) -> None:
    from llmdiff.errors import UserError

    try:
        save(stats, path)
    except ImportError:
        raise UserError("the length histogram needs matplotlib: pip install 'llmdiff[eval]'") from None


def _register_metrics(commands) -> None:
    from llmdiff.eval.metrics import METRICS

    parser = commands.add_parser(
        "metrics", help="CLIP score, aesthetic score, FID, KID", description="Compute image metrics for each "
        "system of RUN; writes RUN/metrics.json. Weights are given by local path or hub id; by default every "
        "metric whose weights are given is computed.",
    )
    parser.add_argument("run", metavar="RUN", help="run directory with generated images")
    parser.add_argument("--metrics", help=f"comma-separated, from: {', '.join(METRICS)} (default: all that can be)")
    parser.add_argument("--clip", help="CLIP model (transformers CLIPModel): local dir or hub id")
    parser.add_argument("--aesthetic-head", help="aesthetic head weights on CLIP image embeddings (.safetensors)")
    parser.add_argument("--inception", help="Inception-v3 weights file for FID/KID (torch-fidelity's)")
    parser.add_argument("--reference", help="folder of reference images for FID/KID")
    parser.add_argument("--systems", default="ours,baseline", help="comma-separated: ours, baseline (default both)")
    parser.add_argument("--batch-size", type=int, default=16, help="images per forward pass (default 16)")
    parser.add_argument("--kid-subset-size", type=int, default=1000, help="KID subset size (default 1000, lowered "
                        "to the smaller set's size)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    parser.set_defaults(func=metrics_command)


def metrics_command(args: argparse.Namespace) -> int:
    import json

    from llmdiff.cli.quiet import hide_loading_bars

    from llmdiff.devices import resolve_device
    from llmdiff.eval.metrics import MetricsConfig, compute_metrics
    from llmdiff.eval.prompts import read_prompts
    from llmdiff.eval.run_dir import RunDir

    hide_loading_bars()
    run = RunDir.existing(args.run)
    config = MetricsConfig(
        metrics=tuple(m.strip() for m in args.metrics.split(",") if m.strip()) if args.metrics else None,
        clip=args.clip, aesthetic_head=args.aesthetic_head, inception=args.inception, reference=args.reference,
        systems=tuple(s.strip() for s in args.systems.split(",") if s.strip()), batch_size=args.batch_size,
        kid_subset_size=args.kid_subset_size, device=str(resolve_device(args.device)),
    )
    results = compute_metrics(run, read_prompts(run.prompts), config)
    run.metrics.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    for system, values in results["systems"].items():
        shown = {k: round(v["mean"] if isinstance(v, dict) else v, 4) for k, v in values.items()}
        print(f"{system}: {shown}")
    print(run.metrics)
    return 0


def _register_report(commands) -> None:
    parser = commands.add_parser(
        "report", help="JSON + Markdown + HTML report with an image grid", description="Gather RUN's prompts, "
        "statistics and metrics into RUN/report.json, and RUN/report.md and RUN/report.html with an image grid "
        "(ours vs baseline per prompt).",
    )
    parser.add_argument("run", metavar="RUN", help="run directory")
    parser.set_defaults(func=report_command)


def report_command(args: argparse.Namespace) -> int:
    from llmdiff.eval.prompts import read_prompts
    from llmdiff.eval.report import build_report, write_report
    from llmdiff.eval.run_dir import RunDir

    run = RunDir.existing(args.run)
    for path in write_report(run, build_report(run, read_prompts(run.prompts))):
        print(path)
    return 0
