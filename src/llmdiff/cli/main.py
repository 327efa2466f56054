"""Entry point of the `llmdiff` console script.

Each subcommand lives in its own module under `llmdiff.cli` and exposes `register(subparsers)`, which
adds its parser and sets `func` to a plain function taking the parsed namespace. Heavy imports (torch,
diffusers) happen inside those functions so that `llmdiff --help` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from llmdiff import __version__
from llmdiff.cli.quiet import own_warnings_as_lines, quiet_libraries, quiet_progress_bars
from llmdiff.errors import UserError

# Subcommand modules, in the order `--help` lists them.
SUBCOMMANDS = (
    "llmdiff.cli.generate",
    "llmdiff.cli.train",
    "llmdiff.cli.plan",
    "llmdiff.cli.merge",
    "llmdiff.cli.convert",
    "llmdiff.cli.data",
    "llmdiff.cli.serve",
    "llmdiff.cli.eval",
    "llmdiff.cli.study",
    "llmdiff.cli.shapes",
    "llmdiff.cli.doctor",
)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="llmdiff",
        description="Large language models as text encoders for text-to-image diffusion models.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logging and other libraries' notices")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in SUBCOMMANDS:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse ends a positional list at the first option, so in `train CFG --resume latest a.b=1` the
    # override after the option is left over; it belongs to the command's overrides all the same.
    if extra:
        if not hasattr(args, "overrides") or any(item.startswith("-") or "=" not in item for item in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = [*args.overrides, *extra]
    quiet_libraries(args.verbose)
    quiet_progress_bars()
    own_warnings_as_lines(args.command)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s: %(message)s",
    )
    try:
        status = args.func(args)
    except UserError as error:
        # One line, no traceback: the message already says what to fix.
        message = " ".join(str(error).split())
        print(f"llmdiff {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"llmdiff {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output left (`llmdiff ... | head`): nothing is wrong, and nothing more to say.
        sys.stdout = open(os.devnull, "w")  # so the interpreter's final flush does not raise again
        return 0
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
