"""The pairs a study shows: the same prompt's image from folder A and from folder B, matched by file name."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from llmdiff.errors import UserError
from llmdiff.eval.metrics.images import IMAGE_SUFFIXES


@dataclass(frozen=True)
class StudyPair:
    name: str
    """the file stem both images share"""
    prompt: str
    category: str | None
    path_a: Path
    path_b: Path


def _images_by_stem(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise UserError(f"image folder '{folder}' does not exist")
    found = {p.stem: p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES}
    if not found:
        raise UserError(f"image folder '{folder}' holds no images")
    return found


def _metadata(path: Path) -> dict:
    from PIL import Image, UnidentifiedImageError

    from llmdiff.images import read_metadata

    try:
        with Image.open(path) as image:
            image.verify()
        return read_metadata(path)
    except UserError:
        return {}  # a readable image without our metadata: the prompt must come from --prompts
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise UserError(f"image '{path}' cannot be read: {error}") from None


def collect_pairs(dir_a: str | os.PathLike, dir_b: str | os.PathLike, prompts: dict | None = None) -> list[StudyPair]:
    """Pairs for every file name in both folders; `prompts` maps a name to (prompt, category) when the
    images carry no llmdiff metadata."""
    dir_a, dir_b = Path(dir_a), Path(dir_b)
    images_a, images_b = _images_by_stem(dir_a), _images_by_stem(dir_b)
    only_a, only_b = sorted(images_a.keys() - images_b), sorted(images_b.keys() - images_a)
    if only_a or only_b:
        detail = "; ".join(f"only in '{d}': {', '.join(names[:5])}{' …' if len(names) > 5 else ''}"
                           for d, names in ((dir_a, only_a), (dir_b, only_b)) if names)
        raise UserError(f"the two folders do not hold the same prompts ({detail})")
    pairs = []
    for name in sorted(images_a):
        meta_a, meta_b = _metadata(images_a[name]), _metadata(images_b[name])
        if "prompt" in meta_a and "prompt" in meta_b and meta_a["prompt"] != meta_b["prompt"]:
            raise UserError(f"'{images_a[name]}' and '{images_b[name]}' were made for different prompts")
        if prompts is not None and name in prompts:
            prompt, category = prompts[name]
        elif "prompt" in meta_a or "prompt" in meta_b:
            meta = meta_a if "prompt" in meta_a else meta_b
            prompt, category = meta["prompt"], meta.get("category") or None
        else:
            raise UserError(f"no prompt for '{name}': its images carry no llmdiff metadata; pass --prompts")
        pairs.append(StudyPair(name, prompt, category, images_a[name], images_b[name]))
    return pairs
