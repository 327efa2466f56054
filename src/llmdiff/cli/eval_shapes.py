"""`llmdiff eval shapes`: the shapes-world ablation table (base CLIP model versus each training stage)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "shapes",
        help="score models on held-out shapes-world scenes with the exact oracle",
        description="Draw the same held-out test scenes from short English captions and from paragraphs in "
        "every language with each model, score every image with the shapes world's oracle, and write a table "
        "(JSON + Markdown) of object recall and all-correct rate with 95% confidence intervals. A placement "
        "check follows: one object named in each grid cell in turn with the same noise seed, to see whether "
        "the layout follows the place words. Held-out wording columns score the same scenes described in "
        "sentence frames and synonyms no training caption uses, with unrelated sentences, and with negations.",
    )
    parser.add_argument("--clip", action="append", default=[], metavar="NAME=BASE_DIR",
                        help="a row drawn by a base model with its own CLIP encoder (repeatable)")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=MODEL_DIR",
                        help="a row drawn by an LLM-conditioned model directory holding base/ and adapter/ "
                        "(repeatable; rows keep the order given, CLIP rows first)")
    parser.add_argument("-o", "--output", required=True, help="folder for shapes_eval.json and shapes_eval.md")
    parser.add_argument("--scenes", type=int, default=500, help="held-out test scenes per column (default 500)")
    parser.add_argument("--world", help="the world to draw in: a world.json, a folder holding one, 'shipped' or "
                        "'benchmark' (default: the world.json of the --model folders, which must agree; else the "
                        "shipped model's)")
    parser.add_argument("--first-seed", type=int, help="first scene seed (default: the world's test split)")
    parser.add_argument("--languages", default="en,zh,fr,es,de,ja", help="paragraph languages, comma-separated")
    parser.add_argument("--wording", default="en", help="languages of the held-out wording columns (held-out "
                        "frames, synonyms and their taught-word control, distractor prose, negation), comma-separated from en,de,fr; 'none' turns "
                        "them off (default en)")
    parser.add_argument("--freeform", default="none", help="languages of columns on freeform captions (captions "
                        "as people write them, in the caption generator's words: the wording a freeform training "
                        "round sees, unlike the held-out columns), comma-separated; 'none' (default) for none")
    parser.add_argument("--steps", type=int, help="denoising steps (default: the models' own, from each adapter's "
                        "generation_config.json; needed when they differ; 30 with CLIP rows only)")
    parser.add_argument("--guidance", type=float, help="guidance scale (default: the models' own; needed when they "
                        "differ; 5 with CLIP rows only)")
    parser.add_argument("--batch-size", type=int, default=16, help="images per generation call (default 16)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, … (default auto)")
    parser.add_argument("--placement-seeds", type=int, default=12, help="seeds of the placement check, each "
                        "drawn once per grid cell (default 12; 0 turns the check off)")
    parser.add_argument("--placement-only", action="store_true", help="run only the placement check (seeds x cells "
                        "images per model, against the main table's thousands)")
    parser.set_defaults(func=eval_shapes)


def _named(specs: list[str], option: str) -> list[tuple[str, str]]:
    from llmdiff.errors import UserError

    pairs = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise UserError(f"{option} takes NAME=DIR, not {spec!r}")
        pairs.append((name, path))
    return pairs


def eval_shapes(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from llmdiff.devices import resolve_device
    from llmdiff.errors import UserError
    from llmdiff.eval.placement import check_placeable, evaluate_placement
    from llmdiff.eval.shapes import (
        SharedEncoders, ShapesEvalConfig, clip_model, conditions, evaluate_model, llm_model, test_split_start,
        write_results,
    )
    from llmdiff.eval.model_settings import agreed_generation, agreed_world
    from llmdiff.eval.wording import evaluate_wording, wording_conditions
    from llmdiff.model_dir import ModelDir
    from llmdiff.pipeline import check_generation_args
    from llmdiff.cli.quiet import hide_loading_bars
    from llmdiff.progress import progress_bar
    from llmdiff.worlds.shapes import LANGUAGES

    rows = [("clip", name, path) for name, path in _named(args.clip, "--clip")]
    rows += [("llm", name, path) for name, path in _named(args.model, "--model")]
    if not rows:
        raise UserError("name at least one model: --clip NAME=BASE_DIR or --model NAME=MODEL_DIR")
    for _, name, path in rows:
        if not Path(path).is_dir():
            raise UserError(f"model '{name}': folder '{path}' does not exist")
    languages = tuple(language.strip() for language in args.languages.split(",") if language.strip())
    unknown = [language for language in languages if language not in LANGUAGES]
    if unknown:
        raise UserError(f"unknown language {unknown[0]!r}; known: {', '.join(LANGUAGES)}")
    from llmdiff.worlds.shapes.heldout import LANGUAGES as HELDOUT_LANGUAGES

    wording = () if args.wording.strip().lower() == "none" else tuple(
        language.strip() for language in args.wording.split(",") if language.strip())
    unknown = [language for language in wording if language not in HELDOUT_LANGUAGES]
    if unknown:
        raise UserError(f"no held-out wording for language {unknown[0]!r}; held out: {', '.join(HELDOUT_LANGUAGES)}")
    freeform = () if args.freeform.strip().lower() == "none" else tuple(
        language.strip() for language in args.freeform.split(",") if language.strip())
    unknown = [language for language in freeform if language not in LANGUAGES]
    if unknown:
        raise UserError(f"unknown --freeform language {unknown[0]!r}; known: {', '.join(LANGUAGES)}")
    check_generation_args(args.steps, args.guidance, None, None, 1)
    if args.placement_seeds < 0:
        raise UserError(f"--placement-seeds must be 0 (no placement check) or more, not {args.placement_seeds}")
    if args.placement_only and args.placement_seeds == 0:
        raise UserError("--placement-only with --placement-seeds 0 leaves nothing to run")
    models = {name: ModelDir.open(path) for kind, name, path in rows if kind == "llm"}
    world = agreed_world(args.world, {name: folder.root for name, folder in models.items()})
    steps, guidance = agreed_generation(args.steps, args.guidance,
                                        {name: folder.adapter for name, folder in models.items()})
    config = ShapesEvalConfig(
        world=world.to_dict(),
        num_scenes=args.scenes, first_seed=args.first_seed, languages=languages, steps=steps,
        guidance_scale=guidance, batch_size=args.batch_size, wording=wording, freeform=freeform,
    )
    world_config = config.world_config()
    print(f"drawing a {world_config.grid}x{world_config.grid} world at {world_config.resolution} px, {steps} steps, "
          f"guidance {guidance:g}", file=sys.stderr)
    placement_seeds = args.placement_seeds
    if placement_seeds:
        try:
            check_placeable(world_config)
        except UserError as error:
            if args.placement_only:
                raise
            print(f"{error}; the placement check is skipped", file=sys.stderr)
            placement_seeds = 0
    first_seed = config.first_seed if config.first_seed is not None else test_split_start()
    device = str(resolve_device(args.device))
    table, placement, wording_table = {}, {}, {}
    encoders = SharedEncoders(device)
    hide_loading_bars()
    for kind, name, path in rows:
        generate = clip_model(path, config, device) if kind == "clip" else llm_model(path, config, device, encoders)
        if not args.placement_only:
            total = config.num_scenes * len(conditions(languages, freeform))
            with progress_bar(total, desc=name, unit="img") as bar:
                cells = evaluate_model(generate, config, progress=bar.update)
            table[name] = {condition: cell.summary() for condition, cell in cells.items()}
            if wording:
                with progress_bar(config.num_scenes * len(wording_conditions(wording)), desc=f"{name} wording",
                                  unit="img") as bar:
                    cells = evaluate_wording(generate, config, progress=bar.update)
                wording_table[name] = {condition: cell.summary() for condition, cell in cells.items()}
        if placement_seeds:
            with progress_bar(placement_seeds * world_config.cells, desc=f"{name} placement", unit="img") as bar:
                result = evaluate_placement(generate, world_config, placement_seeds, first_seed,
                                            config.batch_size, progress=bar.update)
            placement[name] = result.summary()
    json_path, markdown_path = write_results(table, config, Path(args.output), placement, wording_table)
    print(markdown_path.read_text(encoding="utf-8"))
    print(f"wrote {json_path} and {markdown_path}")
    return 0
