"""Writing generated images: PNG with the settings that made it, never a half-written file."""

from __future__ import annotations

import json
import os
from pathlib import Path

from PIL import Image, PngImagePlugin

from llmdiff.files import atomic_output
from llmdiff.errors import UserError

METADATA_KEY = "llmdiff"
"""PNG text chunk holding every setting as JSON; the main ones also get chunks of their own."""


def numbered_paths(output: str | os.PathLike, count: int) -> list[Path]:
    """`out.png` for one image; `out-0.png`, `out-1.png`, … for several."""
    output = Path(output)
    if output.suffix.lower() != ".png":
        raise UserError(f"output '{output}' must end in .png")
    if count == 1:
        return [output]
    return [output.with_name(f"{output.stem}-{index}{output.suffix}") for index in range(count)]


def check_writable(paths: list[Path], overwrite: bool) -> None:
    """Fail before any work if an output exists (without `overwrite`) or its folder is missing."""
    for path in paths:
        if path.exists() and not overwrite:
            raise UserError(f"'{path}' already exists; pass --overwrite to replace it")
        if not path.parent.is_dir():
            raise UserError(f"output folder '{path.parent}' does not exist")


def save_png(image: Image.Image, path: str | os.PathLike, metadata: dict) -> None:
    """Save atomically: the PNG appears under its name only once it is complete."""
    path = Path(path)
    info = PngImagePlugin.PngInfo()
    for key, value in metadata.items():
        if isinstance(value, (str, int, float)) and value is not None:
            info.add_itxt(key, str(value))
    info.add_itxt(METADATA_KEY, json.dumps(metadata, ensure_ascii=False))
    with atomic_output(path, "wb") as file:
        image.save(file, format="PNG", pnginfo=info)


def read_metadata(path: str | os.PathLike) -> dict:
    """The settings stored in a PNG written by `save_png`."""
    with Image.open(path) as image:
        text = image.text.get(METADATA_KEY)  # type: ignore[attr-defined]
    if text is None:
        raise UserError(f"'{path}' carries no {METADATA_KEY} metadata")
    return json.loads(text)
