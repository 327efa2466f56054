"""`llmdiff shapes`: the shapes world's datasets, single renders and the faithfulness oracle."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "shapes",
        help="the shapes world: datasets, renders and the oracle",
        description="A procedural paragraph-to-image world with an exact faithfulness oracle (docs/shapes.md).",
    )
    commands = parser.add_subparsers(dest="shapes_command", required=True, metavar="SUBCOMMAND")

    make = commands.add_parser("make", help="write a dataset: images, records.jsonl, figure, optional shards",
                               description="Write N samples (images + one JSONL of records with every caption, "
                               "token counts and first-mention positions) split into train/val/test by disjoint seed ranges.")
    make.add_argument("--n", type=int, required=True, help="number of samples over all splits")
    make.add_argument("--out", required=True, help="output directory (must be empty unless --overwrite)")
    _add_world_arguments(make)
    make.add_argument("--languages", default=None, help="comma-separated, from en,zh,fr,es,de,ja (default: all)")
    make.add_argument("--styles", default=None, help="comma-separated, from short,paragraph,canonical,freeform (default: "
                      "short,paragraph,canonical; freeform: captions as people write them)")
    make.add_argument("--val-fraction", type=float, default=0.05, help="share of samples in val (default 0.05)")
    make.add_argument("--test-fraction", type=float, default=0.05, help="share of samples in test (default 0.05)")
    make.add_argument("--shards", type=int, default=0, metavar="SIZE",
                      help="also write webdataset tar shards of SIZE samples each (default: none)")
    make.add_argument("--workers", type=int, default=2, help="processes making samples (default 2)")
    make.add_argument("--llm", default=None, help="LLM whose tokenizer counts tokens (default: the default LLM)")
    make.add_argument("--overwrite", action="store_true", help="replace a dataset already in --out")
    make.set_defaults(func=make_command)

    stats = commands.add_parser("stats", help="caption-length statistics and figure of a dataset",
                                description="Print token-count statistics of a dataset's captions and draw the "
                                "caption-length figure (short vs paragraph, base and LLM tokenizer, 77-token line).")
    stats.add_argument("dataset", help="dataset directory (holding records.jsonl)")
    stats.add_argument("--figure", default=None, help="output PNG (default: DATASET/caption_lengths.png)")
    stats.add_argument("--language", default="en", help="language of the figure (default en)")
    stats.set_defaults(func=stats_command)

    render = commands.add_parser("render", help="render one scene and print its caption")
    render.add_argument("--seed", type=int, required=True, help="scene seed")
    render.add_argument("--out", required=True, help="output PNG")
    _add_world_arguments(render)
    render.add_argument("--language", default="en", help="caption language (default en)")
    render.add_argument("--style", default="paragraph", help="caption style: short, paragraph, canonical or freeform (default paragraph)")
    render.add_argument("--overwrite", action="store_true", help="replace an existing PNG")
    render.set_defaults(func=render_command)

    tokenizer = commands.add_parser("tokenizer", help="regenerate the base CLIP-format tokenizer",
                                    description="Train the world's base tokenizer on its English captions, "
                                    "reproducibly (default: over the shipped copy).")
    tokenizer.add_argument("--out", default=None, help="output directory (default: the package's clip_tokenizer/)")
    tokenizer.set_defaults(func=tokenizer_command)

    synonyms = commands.add_parser(
        "synonyms", help="how close the LLM's states put the world's synonyms, layer by layer",
        description="Read every word the world's captions may use for a colour, shape, size, background or place "
        "(training and held-out synonyms) in one neutral frame, and report per layer whether each word's state is "
        "closer to its own value's plainest word than to any other value's (states centred per layer). Writes "
        "synonyms.json and synonyms.md.")
    synonyms.add_argument("--out", required=True, help="output folder")
    synonyms.add_argument("--llm", default=None, help="the LLM (default: the model's LLM, else the default LLM)")
    synonyms.add_argument("--language", default="en", help="language of the words (default en)")
    synonyms.add_argument("--model", default=None, help="a model folder whose adapter's layers are marked and "
                          "whose world bounds the words (default: the shipped shapes model)")
    synonyms.add_argument("--lora", action="store_true", help="merge the model's LLM LoRA (adapter/llm_lora) into "
                          "the LLM first")
    synonyms.set_defaults(func=synonyms_command)

    score = commands.add_parser("score", help="score an image against a scene: a seed's, or one you write (prints JSON)",
                                description="Score an image with the oracle against the scene it should show: the "
                                "scene of a seed, or a scene written as JSON (the format `llmdiff shapes parse` prints).")
    score.add_argument("image", help="image file, RGB at the world's resolution")
    expected = score.add_mutually_exclusive_group(required=True)
    expected.add_argument("--seed", type=int, help="seed of the scene the image should show")
    expected.add_argument("--scene", help="JSON file of the scene the image should show")
    _add_world_arguments(score)
    score.set_defaults(func=score_command)

    parse = commands.add_parser("parse", help="print what the oracle sees in an image (JSON)",
                                description="Read an image with the oracle: background, and per grid cell the shape, "
                                "colour and size drawn there, with the scene's canonical English caption.")
    parse.add_argument("image", help="image file, RGB at the world's resolution")
    _add_world_arguments(parse)
    parse.set_defaults(func=parse_command)


# The knobs a command line may change on top of the chosen world: (option's dest, WorldConfig field).
WORLD_KNOBS = (("resolution", "resolution"), ("grid", "grid"), ("min_objects", "min_objects"),
               ("max_objects", "max_objects"), ("shapes", "shapes"), ("colours", "colours"), ("sizes", "sizes"))


def _add_world_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "world", "The scenes' world: the shipped model's unless --world names another; each option below changes "
        "one knob of it.")
    group.add_argument("--world", help="a world.json, a model or dataset folder holding one, 'shipped' (the "
                       "default when the shipped model is installed) or 'benchmark' (docs/shapes.md)")
    group.add_argument("--resolution", type=int, help="image side in pixels (shipped world: 32)")
    group.add_argument("--grid", type=int, help="cells per side (shipped world: 2)")
    group.add_argument("--min-objects", type=int, help="fewest objects per scene (shipped world: 1)")
    group.add_argument("--max-objects", type=int, help="most objects per scene (shipped world: 3)")
    group.add_argument("--shapes", help="comma-separated, from circle,square,triangle,diamond,cross,star")
    group.add_argument("--colours", help="comma-separated, from red,green,blue,yellow,purple,orange")
    group.add_argument("--sizes", help="comma-separated, from small,large")


def _world_config(args: argparse.Namespace):
    from dataclasses import replace

    from llmdiff.worlds.shapes.config import load_world

    changes = {}
    for dest, field in WORLD_KNOBS:
        value = getattr(args, dest)
        if value is not None:
            changes[field] = _names(value, ()) if isinstance(value, str) else value
    return replace(load_world(args.world), **changes)


def _names(value: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    return default if value is None else tuple(name.strip() for name in value.split(",") if name.strip())


def make_command(args: argparse.Namespace) -> int:
    import sys
    import time

    from llmdiff.worlds.shapes import LANGUAGES, STYLES
    from llmdiff.worlds.shapes.dataset import (
        DatasetConfig,
        make_dataset,
        prepare_output,
    )

    config = DatasetConfig(
        n=args.n, world=_world_config(args), languages=_names(args.languages, tuple(LANGUAGES)),
        styles=_names(args.styles, STYLES), val_fraction=args.val_fraction, test_fraction=args.test_fraction,
        shard_size=args.shards, workers=args.workers,
    )
    prepare_output(args.out, args.overwrite)  # refuse before loading any tokenizer
    from llmdiff.loading import load_llm_tokenizer

    llm_tokenizer = load_llm_tokenizer(args.llm)
    started = time.perf_counter()
    stats = make_dataset(config, args.out, llm_tokenizer, overwrite=True)
    seconds = time.perf_counter() - started
    english = stats.get("en", {}).get("paragraphs_with_object_after_window")
    late = f"; {english:.0%} of English paragraphs describe an object after token 76" if english is not None else ""
    print(f"wrote {args.n} samples {config.split_sizes()} to {args.out} in {seconds:.1f} s{late}", file=sys.stderr)
    return 0


def stats_command(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from llmdiff.errors import UserError
    from llmdiff.worlds.shapes.stats import histograms_from_jsonl

    records = Path(args.dataset) / "records.jsonl"
    if not records.is_file():
        raise UserError(f"{records} not found; is {args.dataset} a dataset made by `llmdiff shapes make`?")
    histograms = histograms_from_jsonl(records)
    figure = Path(args.figure) if args.figure else Path(args.dataset) / "caption_lengths.png"
    if histograms.plot(figure, args.language) is None:
        found = ", ".join(histograms.languages()) or "none"
        raise UserError(f"the dataset has no {args.language!r} captions (its languages: {found}); "
                        f"choose one with --language")
    print(json.dumps(histograms.summary(), indent=2, ensure_ascii=False))
    return 0


def render_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from llmdiff.errors import UserError
    from llmdiff.worlds.shapes import caption, render, sample_scene

    config = _world_config(args)
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise UserError(f"{out} exists; pass --overwrite to replace it")
    scene = sample_scene(args.seed, config)
    text = caption(scene, args.style, args.language, args.seed, world=config)
    render(scene, config).save(out)
    print(text)
    return 0


def _read_image(path: str):
    from PIL import Image, UnidentifiedImageError

    from llmdiff.errors import UserError

    try:
        with Image.open(path) as image:
            image.load()
    except (OSError, UnidentifiedImageError) as error:
        raise UserError(f"cannot read image {path}: {error}") from None
    return image


def _read_scene(path: str, config):
    import json

    from llmdiff.errors import UserError
    from llmdiff.worlds.shapes import Scene

    try:
        scene = Scene.from_dict(json.loads(open(path, encoding="utf-8").read()))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"cannot read the scene in {path}: {error}") from None
    if scene.grid != config.grid:
        raise UserError(f"the scene in {path} has a {scene.grid}x{scene.grid} grid, the world a "
                        f"{config.grid}x{config.grid} one")
    return scene


def score_command(args: argparse.Namespace) -> int:
    import json

    from llmdiff.worlds.shapes import sample_scene, score

    config = _world_config(args)
    image = _read_image(args.image)
    scene = sample_scene(args.seed, config) if args.scene is None else _read_scene(args.scene, config)
    metrics = score(image, scene, config)
    print(json.dumps(metrics.to_dict(), indent=2))
    return 0


def parse_command(args: argparse.Namespace) -> int:
    import json

    from llmdiff.worlds.shapes import caption_record, parse_image

    config = _world_config(args)
    scene = parse_image(_read_image(args.image), config)
    # The world's captions describe one object at least; an image may show none.
    text = caption_record(scene, "canonical", "en").text if scene.objects else f"no shapes, {scene.background} background"
    print(json.dumps({**scene.to_dict(), "caption": text}, indent=2, ensure_ascii=False))
    return 0


def tokenizer_command(args: argparse.Namespace) -> int:
    from llmdiff.worlds.shapes.tokenizer import TOKENIZER_DIR, train_clip_tokenizer

    print(train_clip_tokenizer(args.out or TOKENIZER_DIR))
    return 0


def synonyms_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from llmdiff.defaults import default_model_dir
    from llmdiff.errors import UserError
    from llmdiff.eval.synonyms import synonym_similarity, write_report
    from llmdiff.worlds.shapes import WorldConfig

    model = Path(args.model) if args.model else default_model_dir()
    marked, world, lora, llm = (), None, None, args.llm
    if model is not None:
        from llmdiff.pipeline import load_text_encoder_config

        adapter = model / "adapter"
        saved_llm, encoder_config = load_text_encoder_config(adapter)
        if encoder_config is None:
            raise UserError(f"{adapter} has no text_encoder_config.json; is {model} a model folder (base/ + adapter/)?")
        marked, llm = encoder_config.layers, args.llm or saved_llm
        if (model / "world.json").is_file():
            world = WorldConfig.from_file(model / "world.json")
        if args.lora:
            from llmdiff.llm_lora import llm_lora_dir

            lora = llm_lora_dir(adapter)
            if lora is None:
                raise UserError(f"{adapter} has no LLM LoRA to merge")
    elif args.lora:
        raise UserError("--lora needs a model folder (--model) whose adapter holds one")
    report = synonym_similarity(llm, args.language, lora, world, marked)
    title = f"Synonym similarity: {report['llm']}, {args.language}"
    json_path, markdown_path = write_report(report, Path(args.out), title)
    print(markdown_path.read_text(encoding="utf-8").split("\n## ")[0])
    print(f"wrote {json_path} and {markdown_path}")
    return 0
