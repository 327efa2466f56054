"""The manifest: one JSON object per line describing one image-caption sample.

Required fields are `id`, `image` (a path, relative to the manifest's folder or absolute) and `caption`;
`width`, `height` and `sha256` describe the image file (null when it could not be read). Any other field
(`aesthetic`, `source`, …) passes through every command untouched.

In memory, records are plain dicts whose `image` is an absolute path; `ManifestWriter` writes it back
relative to the new manifest's folder when the image lies below it, so manifests can be moved with their
images.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from llmdiff.data.files import atomic_output
from llmdiff.errors import UserError

REQUIRED_FIELDS = ("id", "image", "caption")
IMAGE_FIELDS = ("width", "height", "sha256")


def safe_id(text: str) -> str:
    """An id usable as a webdataset key: no dots or slashes (webdataset splits keys at the first dot)."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")
    return cleaned or "sample"


@dataclass(frozen=True)
class ManifestLine:
    """A record with where it came from, so later errors and reject lists can name the line."""

    line: int
    record: dict


def parse_record(text: str, path: Path, line: int) -> dict:
    """One manifest line → a checked record dict with an absolute `image` path."""
    where = f"{path} line {line}"
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"{where}: not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(record, dict):
        raise UserError(f"{where}: expected a JSON object, got {type(record).__name__}")
    for field in REQUIRED_FIELDS:
        if field not in record:
            raise UserError(f"{where}: missing field '{field}'")
    if not isinstance(record["id"], str) or not record["id"]:
        raise UserError(f"{where}: 'id' must be a non-empty string")
    if not isinstance(record["image"], str) or not record["image"]:
        raise UserError(f"{where}: 'image' must be a non-empty path")
    if not isinstance(record["caption"], str):
        raise UserError(f"{where}: 'caption' must be a string")
    for field in ("width", "height"):
        value = record.setdefault(field, None)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise UserError(f"{where}: '{field}' must be an integer or null")
    sha = record.setdefault("sha256", None)
    if sha is not None and not isinstance(sha, str):
        raise UserError(f"{where}: 'sha256' must be a string or null")
    record["image"] = os.path.normpath(os.path.join(path.parent, os.path.expanduser(record["image"])))
    return record


def read_manifest(path: str | os.PathLike) -> Iterator[ManifestLine]:
    """Stream a manifest's records with their line numbers; blank lines are skipped."""
    path = Path(path).expanduser().absolute()
    if not path.is_file():
        raise UserError(f"manifest '{path}' does not exist")
    with open(path, encoding="utf-8") as file:
        for line_number, text in enumerate(file, start=1):
            if text.strip():
                yield ManifestLine(line_number, parse_record(text, path, line_number))


def iter_records(path: str | os.PathLike) -> Iterator[dict]:
    for entry in read_manifest(path):
        yield entry.record


class ManifestWriter:
    """Writes records to a manifest atomically: the file appears, complete, when the `with` block ends."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).expanduser().absolute()
        self.count = 0
        self._context = None
        self._file: IO | None = None

    def __enter__(self) -> "ManifestWriter":
        self._context = atomic_output(self.path)
        self._file = self._context.__enter__()
        return self

    def __exit__(self, *exc_info) -> bool | None:
        return self._context.__exit__(*exc_info)

    def relative_image(self, image: str) -> str:
        """Relative to the manifest when the image is below its folder; absolute otherwise."""
        # Records hold normalised absolute paths, so a prefix test suffices (relpath is slow at 100k rows).
        prefix = str(self.path.parent).rstrip(os.sep) + os.sep
        return image[len(prefix):] if image.startswith(prefix) else image

    def write(self, record: dict) -> None:
        out = dict(record)
        out["image"] = self.relative_image(record["image"])
        self._file.write(json.dumps(out, ensure_ascii=False) + "\n")
        self.count += 1


def write_jsonl(path: str | os.PathLike, rows) -> int:
    """Write plain JSON rows (reject lists, reports) atomically; returns the count."""
    count = 0
    with atomic_output(path) as file:
        for row in rows:
            file.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count
