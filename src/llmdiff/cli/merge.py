"""`llmdiff merge`: the weighted average of models that share one architecture."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "merge",
        help="average the weights of models of one architecture (a model soup)",
        description="Write the weighted average of two or more model folders of one architecture (diffusers "
        "pipelines, adapters, or base/ + adapter/ model directories), such as successive releases of one "
        "lineage. Weight files are averaged tensor by tensor; every other file must be the same in each model "
        "and is copied. The sources and weights go to merge.json in the output.",
    )
    parser.add_argument("models", nargs="+", metavar="MODEL_DIR", help="the model folders (two or more)")
    parser.add_argument("-o", "--output", required=True, help="folder for the merged model")
    parser.add_argument("--weights", help="one weight per model, comma-separated, scaled to sum to 1 "
                        "(default: equal weights)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.set_defaults(func=merge)


def merge(args: argparse.Namespace) -> int:
    from llmdiff.errors import UserError
    from llmdiff.merge import merge_models

    weights = None
    if args.weights is not None:
        try:
            weights = [float(item) for item in args.weights.split(",")]
        except ValueError:
            raise UserError(f"--weights takes numbers separated by commas, not {args.weights!r}") from None
    output = merge_models(args.models, args.output, weights, overwrite=args.overwrite)
    print(f"wrote {output}")
    return 0
