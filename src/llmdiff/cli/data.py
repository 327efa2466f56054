"""`llmdiff data`: ingest, validate, stats, filter, shard and recaption image-caption manifests."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "data",
        help="prepare image-caption data: ingest, validate, stats, filter, shard, recaption",
        description="Prepare training data as JSONL manifests (one sample per line; see docs/data.md). "
        "Every command streams, and writes its outputs atomically.",
    )
    commands = parser.add_subparsers(dest="data_command", required=True, metavar="STEP")
    _register_ingest(commands)
    _register_validate(commands)
    _register_stats(commands)
    _register_filter(commands)
    _register_shard(commands)
    _register_recaption(commands)


def _print_counts(title: str, counts: dict) -> None:
    if counts:
        print(title + ", ".join(f"{name} {count}" for name, count in sorted(counts.items())))


# --- ingest ---------------------------------------------------------------------------------------------


def _register_ingest(commands) -> None:
    parser = commands.add_parser(
        "ingest",
        help="build a manifest from a folder, a table or webdataset tars",
        description="Build a manifest from a folder of images with sidecar .txt captions, a CSV/TSV/JSONL/"
        "parquet table of (local image path, caption), or webdataset .tar shards.",
    )
    parser.add_argument("sources", nargs="+", help="folders, tables or .tar files (a folder of only .tar files is read as shards)")
    parser.add_argument("-o", "--output", required=True, help="manifest to write (.jsonl)")
    parser.add_argument("--kind", default="auto", choices=("auto", "folder", "table", "webdataset"), help="source kind (default auto)")
    parser.add_argument("--image-column", help="table column with the image path (default: image, path, image_path, file or filename)")
    parser.add_argument("--caption-column", help="table column with the caption (default: caption, text or prompt)")
    parser.add_argument("--id-column", help="table column with the sample id (default: id or key, else the image path)")
    parser.add_argument("--images-dir", help="where images from .tar shards are extracted (default: OUTPUT-STEM-images/)")
    parser.add_argument("--workers", type=int, default=4, help="threads reading images (default 4)")
    parser.set_defaults(func=ingest)


def ingest(args: argparse.Namespace) -> int:
    from pathlib import Path

    from llmdiff.data.ingest import IngestConfig, ingest_sources as run

    config = IngestConfig(kind=args.kind, image_column=args.image_column, caption_column=args.caption_column,
                          id_column=args.id_column, images_dir=Path(args.images_dir) if args.images_dir else None,
                          workers=args.workers)
    report = run(args.sources, args.output, config)
    print(f"{args.output}: {report.records} records ({report.unreadable} with unreadable images; "
          "run `llmdiff data validate` to exclude them)")
    return 0


# --- validate -------------------------------------------------------------------------------------------


def _register_validate(commands) -> None:
    parser = commands.add_parser(
        "validate",
        help="drop unreadable, tiny, oddly shaped, uncaptioned and duplicate samples",
        description="Check every sample; write those that pass to OUTPUT and the others, with reasons, to "
        "the rejects file.",
    )
    parser.add_argument("manifest", help="manifest to check")
    parser.add_argument("-o", "--output", required=True, help="manifest of the samples that pass")
    parser.add_argument("--rejects", help="JSONL of rejected samples and reasons (default: OUTPUT-STEM.rejects.jsonl)")
    parser.add_argument("--min-side", type=int, default=64, help="smallest allowed shorter side in pixels (default 64)")
    parser.add_argument("--max-aspect", type=float, default=4.0, help="largest allowed long/short side ratio (default 4)")
    parser.add_argument("--allow-duplicate-captions", action="store_true", help="keep samples whose caption repeats")
    parser.add_argument("--no-image-check", action="store_true",
                        help="trust the manifest's width/height/sha256 instead of decoding every image")
    parser.add_argument("--workers", type=int, default=4, help="threads decoding images (default 4)")
    parser.set_defaults(func=validate)


def validate(args: argparse.Namespace) -> int:
    from llmdiff.data.validate import ValidateConfig, validate_manifest as run

    config = ValidateConfig(min_side=args.min_side, max_aspect=args.max_aspect,
                            duplicate_captions=not args.allow_duplicate_captions,
                            check_images=not args.no_image_check, workers=args.workers)
    report = run(args.manifest, args.output, args.rejects, config)
    print(f"{args.output}: kept {report.kept} of {report.total}, rejected {report.rejected}")
    _print_counts("rejected for: ", report.reasons)
    return 0


# --- stats ----------------------------------------------------------------------------------------------


def _register_stats(commands) -> None:
    parser = commands.add_parser(
        "stats",
        help="caption length and image size distributions, with a figure",
        description="Measure caption lengths in words, CLIP tokens and LLM tokens, and image sizes; write "
        "a JSON summary and a PNG figure with CLIP's 77-token limit drawn.",
    )
    parser.add_argument("manifest", help="manifest to measure")
    parser.add_argument("--json", help="summary to write (default: MANIFEST-STEM.stats.json beside it)")
    parser.add_argument("--figure", help="PNG figure to write (default: MANIFEST-STEM.stats.png beside it)")
    parser.add_argument("--clip-tokenizer", help="CLIP tokenizer directory (vocab.json + merges.txt); without it, no CLIP counts")
    parser.add_argument("--llm", help="LLM whose tokenizer counts: dir, hub id or .gguf (default: SmolLM2-135M-Instruct)")
    parser.add_argument("--no-llm-tokens", action="store_true", help="skip LLM token counts")
    parser.set_defaults(func=stats)


def stats(args: argparse.Namespace) -> int:
    from pathlib import Path

    from llmdiff.data.stats import StatsConfig, manifest_stats, plot_stats, write_stats

    manifest = Path(args.manifest)
    json_path = Path(args.json) if args.json else manifest.with_name(f"{manifest.stem}.stats.json")
    figure_path = Path(args.figure) if args.figure else manifest.with_name(f"{manifest.stem}.stats.png")
    config = StatsConfig(clip_tokenizer=args.clip_tokenizer, llm=args.llm, count_llm_tokens=not args.no_llm_tokens)
    measured = manifest_stats(manifest, config)
    summary = write_stats(measured, json_path)
    plot_stats(measured, figure_path)
    print(json.dumps({key: value for key, value in summary.items() if key != "image_sizes"}, indent=2))
    print(f"wrote {json_path} and {figure_path}")
    return 0


# --- filter ---------------------------------------------------------------------------------------------


def _register_filter(commands) -> None:
    parser = commands.add_parser(
        "filter",
        help="keep a curated subset by caption length, size, aspect and scores",
        description="Keep the samples that pass every bound given, e.g. a stage-3 set: "
        "--min-words 40 --min-side 512 --score 'aesthetic>=6'.",
    )
    parser.add_argument("manifest", help="manifest to filter")
    parser.add_argument("-o", "--output", required=True, help="manifest of the samples kept")
    for unit, what in (("words", "words"), ("clip-tokens", "CLIP tokens, start and end included"),
                       ("llm-tokens", "LLM tokens")):
        parser.add_argument(f"--min-{unit}", type=int, help=f"shortest caption, in {what}")
        parser.add_argument(f"--max-{unit}", type=int, help=f"longest caption, in {what}")
    parser.add_argument("--clip-tokenizer", help="CLIP tokenizer directory, for the CLIP token bounds")
    parser.add_argument("--llm", help="LLM for the LLM token bounds (default: SmolLM2-135M-Instruct)")
    parser.add_argument("--min-width", type=int, help="smallest width in pixels")
    parser.add_argument("--min-height", type=int, help="smallest height in pixels")
    parser.add_argument("--min-side", type=int, help="smallest shorter side in pixels")
    parser.add_argument("--max-aspect", type=float, help="largest long/short side ratio")
    parser.add_argument("--score", action="append", default=[], metavar="RULE",
                        help="a bound on a numeric column, e.g. 'aesthetic>=5.5' (repeatable)")
    parser.set_defaults(func=filter_command)


def filter_command(args: argparse.Namespace) -> int:
    from llmdiff.data.filter import FilterConfig, filter_manifest

    config = FilterConfig(
        min_words=args.min_words, max_words=args.max_words,
        min_clip_tokens=args.min_clip_tokens, max_clip_tokens=args.max_clip_tokens, clip_tokenizer=args.clip_tokenizer,
        min_llm_tokens=args.min_llm_tokens, max_llm_tokens=args.max_llm_tokens, llm=args.llm,
        min_width=args.min_width, min_height=args.min_height, min_side=args.min_side, max_aspect=args.max_aspect,
        scores=args.score,
    )
    report = filter_manifest(args.manifest, args.output, config)
    print(f"{args.output}: kept {report.kept} of {report.total}")
    _print_counts("failed: ", report.reasons)
    return 0


# --- shard ----------------------------------------------------------------------------------------------


def _register_shard(commands) -> None:
    parser = commands.add_parser(
        "shard",
        help="pack a manifest into webdataset tar shards with an index",
        description="Write webdataset .tar shards of about --shard-size each, plus index.json. An "
        "interrupted run resumes after its last complete shard.",
    )
    parser.add_argument("manifest", help="manifest to pack")
    parser.add_argument("-o", "--output", required=True, help="folder for the shards and index.json")
    parser.add_argument("--shard-size", default="64MB", help="target shard size, e.g. 64MB, 1GiB (default 64MB)")
    parser.add_argument("--prefix", default="shard", help="shard file name prefix (default 'shard')")
    parser.set_defaults(func=shard)


def shard(args: argparse.Namespace) -> int:
    from llmdiff.data.files import parse_size
    from llmdiff.data.shard import ShardConfig, write_shards as run

    index = run(args.manifest, args.output, ShardConfig(shard_size=parse_size(args.shard_size), prefix=args.prefix))
    print(f"{args.output}: {index['samples']} samples in {len(index['shards'])} shards, {index['bytes']} bytes")
    return 0


# --- recaption ------------------------------------------------------------------------------------------


def _register_recaption(commands) -> None:
    parser = commands.add_parser(
        "recaption",
        help="write long paragraph captions with a vision-language model",
        description="Caption every image with a vision-language model (any image-text-to-text model, by "
        "hub id or local path). Resumable: samples already captioned are skipped. Across GPUs: "
        "`accelerate launch -m llmdiff data recaption ...`.",
    )
    parser.add_argument("manifest", help="manifest whose images to caption")
    parser.add_argument("-o", "--output", required=True, help="manifest with the new captions")
    parser.add_argument("--captioner", default="vlm", choices=("vlm", "shapes"),
                        help="vlm: a vision-language model (default); shapes: the rule-based captioner of the "
                        "shapes world, which reads each image's scene exactly")
    parser.add_argument("--model", help="vision-language model: hub id or local dir (needed for --captioner vlm)")
    parser.add_argument("--prompt", help="instruction sent with each image (default: describe every object, "
                        "its colour, position and relations)")
    parser.add_argument("--prompt-file", help="read the instruction from this UTF-8 file")
    parser.add_argument("--batch-size", type=int, default=8, help="images per batch (default 8)")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="longest caption in tokens (default 256)")
    parser.add_argument("--dtype", default="auto", help="auto, float32, float16 or bfloat16 (default auto)")
    parser.add_argument("--keep-original", default="original_caption", metavar="COLUMN",
                        help="column keeping the old caption (default original_caption; '' drops it)")
    parser.add_argument("--style", default="paragraph", help="shapes captioner: paragraph or short (default paragraph)")
    parser.add_argument("--language", default="en", help="shapes captioner: caption language (default en)")
    parser.add_argument("--seed", type=int, default=0, help="shapes captioner: seed mixed into the phrasing (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=recaption)


def _build_captioner(args, accelerator):
    from llmdiff.data.captioners import (DEFAULT_PROMPT, ShapesCaptioner, ShapesCaptionerConfig, VLMCaptioner,
                                         VLMCaptionerConfig)
    from llmdiff.errors import UserError

    if args.captioner == "shapes":
        return ShapesCaptioner(ShapesCaptionerConfig(style=args.style, language=args.language, seed=args.seed))
    if args.prompt and args.prompt_file:
        raise UserError("give --prompt or --prompt-file, not both")
    prompt = args.prompt or DEFAULT_PROMPT
    if args.prompt_file:
        from llmdiff.prompts import read_prompt_file

        prompt = read_prompt_file(args.prompt_file)
    if not args.model:
        raise UserError("--captioner vlm needs --model (a hub id or local directory)")
    config = VLMCaptionerConfig(model=args.model, prompt=prompt, max_new_tokens=args.max_new_tokens, dtype=args.dtype)
    return VLMCaptioner(config, device=accelerator.device)


def recaption(args: argparse.Namespace) -> int:
    from accelerate import Accelerator

    from llmdiff.data.recaption import RecaptionConfig, recaption_manifest as run

    accelerator = Accelerator()
    captioner = _build_captioner(args, accelerator)
    config = RecaptionConfig(batch_size=args.batch_size, keep_original=args.keep_original or None,
                             progress=not args.no_progress)
    report = run(args.manifest, args.output, captioner, config, accelerator)
    print(f"process {accelerator.process_index}: captioned {report.captioned_now} images in "
          f"{report.seconds:.1f} s ({report.images_per_second:.2f} img/s)")
    if report.written is not None:
        print(f"{args.output}: {report.written} records ({report.failed} left out: image could not be opened)")
    return 0
