"""Reading prompts from files."""

from __future__ import annotations

import os
from pathlib import Path

from llmdiff.errors import UserError


def read_prompt_file(path: str | os.PathLike) -> str:
    """The whole file as one prompt (paragraphs may span lines), strictly UTF-8."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"prompt file '{path}' does not exist") from None
    except OSError as error:
        raise UserError(f"cannot read prompt file '{path}': {error.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise UserError(
            f"prompt file '{path}' is not valid UTF-8 (byte {error.start}, line {line})"
        ) from None
    return text.removeprefix("\ufeff").strip("\r\n")
