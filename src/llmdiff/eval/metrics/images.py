"""Finding and opening the images a metric reads, with errors that name the missing or broken file."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from llmdiff.errors import UserError
from llmdiff.eval.prompts import PromptRecord
from llmdiff.eval.run_dir import RunDir

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def open_rgb(path: str | os.PathLike) -> Image.Image:
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except FileNotFoundError:
        raise UserError(f"image '{path}' does not exist") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise UserError(f"image '{path}' cannot be read: {error}") from None


def run_images(run: RunDir, system: str, records: list[PromptRecord]) -> list[Path]:
    """The image of each prompt for one system; every one must exist and be of that prompt."""
    from llmdiff.images import read_metadata

    folder = run.images(system)
    if not folder.is_dir():
        raise UserError(f"image folder '{folder}' does not exist; run `llmdiff eval generate {run.root}` first")
    paths = [run.image(system, r.id) for r in records]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        raise UserError(f"{len(missing)} of {len(paths)} images missing in '{folder}': {shown}")
    for record, path in zip(records, paths):
        try:
            saved = read_metadata(path).get("prompt")
        except (OSError, ValueError) as error:
            raise UserError(f"image '{path}' cannot be read: {error}") from None
        if saved != record.prompt:
            raise UserError(f"image '{path}' was made for another prompt than {record.id!r} in {run.prompts}")
    return paths


def folder_images(folder: str | os.PathLike, what: str = "reference folder") -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{what} '{folder}' does not exist")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise UserError(f"{what} '{folder}' holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return paths
