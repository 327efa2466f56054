"""`llmdiff train` and `llmdiff cache`: run a training stage or fill its caches from a YAML config."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    train = subparsers.add_parser(
        "train",
        help="train a stage (base, align, end_to_end, quality, cross_lingual) from a YAML config",
        description="Train one stage from CONFIG.yaml; dotted key=value arguments override config values "
        "(e.g. optim.lr=1e-4 train.max_steps=200). Multi-GPU: accelerate launch -m llmdiff train CONFIG.yaml.",
    )
    train.add_argument("config", help="stage config (YAML)")
    train.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    train.add_argument("--resume", metavar="latest|DIR", help="continue from the latest (or a given) checkpoint")
    train.add_argument("--dry-run", action="store_true", help="print the resolved config and check data paths, then stop")
    train.set_defaults(func=run_train)

    cache = subparsers.add_parser(
        "cache",
        help="precompute a config's caches (LLM states, CLIP targets, VAE latents)",
        description="Fill the caches the stage in CONFIG.yaml reads (cache.dir must be set).",
    )
    cache.add_argument("config", help="stage config (YAML)")
    cache.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    cache.add_argument("--batch-size", type=int, default=None, help="items encoded at once (default: max(16, batch))")
    cache.set_defaults(func=run_cache)


def run_train(args: argparse.Namespace) -> int:
    from llmdiff.training.config import load_config
    from llmdiff.training.data import check_sources

    config = load_config(args.config, args.overrides)
    if args.dry_run:
        check_sources(config.data)
        print(config.dump(), end="")
        return 0
    from llmdiff.cli.quiet import hide_loading_bars
    from llmdiff.training.recipes import RECIPES

    hide_loading_bars()
    output = RECIPES[config.stage](config, resume=args.resume).run()
    print(f"trained stage {config.stage}: {output}")
    return 0


def run_cache(args: argparse.Namespace) -> int:
    from llmdiff.training.config import load_config
    from llmdiff.training.precompute import build_caches

    report = build_caches(load_config(args.config, args.overrides), batch_size=args.batch_size)
    for kind, count in report.items.items():
        print(f"{kind}: {count} items in {report.paths[kind]}")
    if report.unreadable_images:
        print(f"{report.unreadable_images} unreadable images skipped")
    return 0
