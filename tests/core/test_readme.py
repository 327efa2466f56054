"""The README's commands are the ones a new user types first: each must be one the CLI accepts, and the
"Try it" block must run as written (all but `serve`, which keeps running)."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from llmdiff.cli.main import build_parser
from llmdiff.defaults import default_model_dir

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def llmdiff_commands(block: str) -> list[list[str]]:
    """Every `llmdiff ...` command of a block, as arguments (comments dropped, `&&` chains split)."""
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            if words[0] == "llmdiff":
                commands.append(words[1:cut])
            words = words[cut + 1:]
    return commands


COMMANDS = [command for block in bash_blocks(README) for command in llmdiff_commands(block)]


def test_the_readme_has_commands_to_check():
    assert len(COMMANDS) >= 8 and ["doctor"] in COMMANDS


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: " ".join(command[:2]))
def test_every_readme_command_is_accepted_by_the_cli(command):
    parser = build_parser()
    parser.exit = lambda status=0, message=None: pytest.fail(f"llmdiff {' '.join(command)}: {message}")
    parser.parse_args(command)


def try_it_block() -> list[list[str]]:
    section = README[README.index("Try it:"):]
    return llmdiff_commands(bash_blocks(section)[0])


@pytest.mark.skipif(default_model_dir() is None, reason="needs the shipped default model")
def test_the_try_it_block_runs_as_written(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    ran = []
    for command in try_it_block():
        if command[0] == "serve":
            continue
        done = subprocess.run([sys.executable, "-m", "llmdiff", *command], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"llmdiff {' '.join(command)}: {done.stderr[-1500:]}"
        ran.append(command[0])
    assert ran == ["generate", "shapes", "doctor"]
    assert (tmp_path / "try.png").is_file()


# What each of the README's "prompts that it draws right" describes: background and (shape, colour, row, col).
DRAWN_RIGHT = {
    "a big yellow star in the bottom-left corner, a big red circle in the top-right corner, white background":
        ("white", {("star", "yellow", 1, 0), ("circle", "red", 0, 1)}),
    "The picture shows one shape on white. In the top-right corner there is a big blue square.":
        ("white", {("square", "blue", 0, 1)}),
    "a big blue square in the top-right corner and a little green circle in the bottom-right corner, white background":
        ("white", {("square", "blue", 0, 1), ("circle", "green", 1, 1)}),
    # as people write them
    "I'd like a small green circle in the lower left and a big red star in the upper right, on black please":
        ("black", {("circle", "green", 1, 0), ("star", "red", 0, 1)}),
    "Picture on white: a huge blue square up in the top-right corner. No circles anywhere.":
        ("white", {("square", "blue", 0, 1)}),
    "a chunky cobalt cube in the north-west corner and a pint-sized tomato red pyramid bottom right, on coal black":
        ("black", {("square", "blue", 0, 0), ("triangle", "red", 1, 1)}),
}


def test_the_readme_lists_the_prompts_checked_here():
    section = README[re.search(r"Prompts that\s+it draws right", README).start():README.index("Object recall on 500")]
    assert re.findall(r"^- `(.*)`$", section, re.M) == list(DRAWN_RIGHT)


@pytest.mark.skipif(default_model_dir() is None, reason="needs the shipped default model")
def test_the_shipped_model_draws_the_readme_prompts_right():
    from llmdiff import LLMDiffusionPipeline
    from llmdiff.worlds.shapes import parse_image
    from llmdiff.worlds.shapes.config import load_world

    world = load_world()
    pipe = LLMDiffusionPipeline.from_pretrained()
    for prompt, (background, objects) in DRAWN_RIGHT.items():
        image = pipe(prompt, seed=0, progress=False).images[0]  # as `llmdiff generate PROMPT` draws it
        seen = parse_image(image, world)
        assert (seen.background, {o.key for o in seen.objects}) == (background, objects), prompt
