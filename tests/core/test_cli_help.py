"""Every subcommand's --help is a path a user takes: each must print its help and exit 0."""

import argparse

import pytest

from llmdiff.cli.main import build_parser, main


def command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """Every command path of the parser tree: (), ("generate",), ("data", "ingest"), ..."""
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                yield from command_paths(subparser, (*prefix, name))


PATHS = list(command_paths(build_parser()))


def test_the_walk_finds_nested_commands():
    assert ("generate",) in PATHS and ("eval", "shapes") in PATHS and ("data", "filter") in PATHS


@pytest.mark.parametrize("path", PATHS, ids=lambda path: " ".join(path) or "llmdiff")
def test_help_prints_and_exits_zero(path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*path, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: llmdiff")
    assert "%%" not in out  # a doubled percent sign means a string argparse never formatted
