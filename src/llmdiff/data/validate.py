"""Checking a manifest: every bad sample is counted, listed with its reasons, and left out of the output.

Checks, each a reason code in the rejects file: `missing`, `unreadable`, `truncated` (the image file),
`too_small` (shorter side), `extreme_aspect` (long side / short side), `empty_caption`, and the three
duplicates `duplicate_id`, `duplicate_caption`, `duplicate_image` (same sha256). The first of a group of
duplicates is kept; duplicates are only looked for among samples that pass the other checks.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from llmdiff.data.files import atomic_output, map_streaming
from llmdiff.data.imageinfo import probe_image
from llmdiff.data.keystore import KeyStore
from llmdiff.data.manifest import ManifestLine, ManifestWriter, read_manifest
from llmdiff.errors import UserError

REASONS = (
    "missing", "unreadable", "truncated", "too_small", "extreme_aspect",
    "empty_caption", "duplicate_id", "duplicate_caption", "duplicate_image",
)


@dataclass
class ValidateConfig:
    min_side: int = 64
    """Reject images whose shorter side is below this many pixels."""
    max_aspect: float = 4.0
    """Reject images whose long side is more than this many times the short side."""
    duplicate_captions: bool = True
    """Reject a sample whose caption (case and spacing ignored) an earlier kept sample already has."""
    check_images: bool = True
    """Open and fully decode every image, re-measuring and re-hashing it; off: trust the manifest's fields."""
    workers: int = 4
    """Threads decoding images."""

    def __post_init__(self):
        if self.min_side < 1:
            raise UserError("min_side must be at least 1 pixel")
        if self.max_aspect < 1:
            raise UserError("max_aspect must be at least 1")


@dataclass
class ValidationReport:
    total: int = 0
    kept: int = 0
    reasons: Counter = field(default_factory=Counter)

    @property
    def rejected(self) -> int:
        return self.total - self.kept


def caption_key(caption: str) -> str:
    normalised = " ".join(caption.lower().split())
    return hashlib.sha1(normalised.encode("utf-8")).hexdigest()


def _refresh_image(entry: ManifestLine) -> tuple[ManifestLine, str | None, str]:
    """Decode the image and put its measured size and hash into the record."""
    info = probe_image(entry.record["image"], decode=True)
    record = {**entry.record, "width": info.width, "height": info.height, "sha256": info.sha256}
    return ManifestLine(entry.line, record), info.problem, info.detail


def own_problems(record: dict, config: ValidateConfig) -> list[tuple[str, str]]:
    """(reason, detail) pairs that do not depend on other samples."""
    problems = []
    width, height = record.get("width"), record.get("height")
    if width is None or height is None:
        problems.append(("unreadable", "no image size recorded"))
    else:
        short, long = min(width, height), max(width, height)
        if short < config.min_side:
            problems.append(("too_small", f"{width}x{height}: shorter side below {config.min_side} px"))
        if short > 0 and long / short > config.max_aspect:
            problems.append(("extreme_aspect", f"{width}x{height}: aspect {long / short:.2f} above {config.max_aspect:g}"))
    if not record["caption"].strip():
        problems.append(("empty_caption", "caption is empty"))
    return problems


def duplicate_problems(record: dict, seen: KeyStore, config: ValidateConfig) -> list[tuple[str, str]]:
    """Duplicates of an earlier kept sample, which is named; a sample that is kept is remembered."""
    keys = {"duplicate_id": "id:" + record["id"]}
    if config.duplicate_captions:
        keys["duplicate_caption"] = "caption:" + caption_key(record["caption"])
    if record.get("sha256"):
        keys["duplicate_image"] = "image:" + record["sha256"]
    what = {"duplicate_id": "id", "duplicate_caption": "caption", "duplicate_image": "image"}
    found = seen.get_many(list(keys.values()))
    problems = [(reason, f"same {what[reason]} as '{found[key]}'") for reason, key in keys.items() if key in found]
    if not problems:
        seen.put_many({key: record["id"] for key in keys.values()})
    return problems


def validate_manifest(
    manifest: str | os.PathLike,
    output: str | os.PathLike,
    rejects: str | os.PathLike | None = None,
    config: ValidateConfig | None = None,
) -> ValidationReport:
    """Write the samples that pass to `output` and the others, with reasons, to `rejects`."""
    config = config or ValidateConfig()
    output = Path(output).expanduser().absolute()
    rejects = Path(rejects) if rejects else output.with_name(f"{output.stem}.rejects.jsonl")
    report = ValidationReport()
    entries = read_manifest(manifest)
    if config.check_images:
        checked = map_streaming(_refresh_image, entries, config.workers)
    else:
        checked = ((entry, None, "") for entry in entries)
    with KeyStore(output.parent) as seen, ManifestWriter(output) as writer, atomic_output(rejects) as rejected:
        for entry, image_problem, image_detail in checked:
            record = entry.record
            report.total += 1
            problems = [(image_problem, image_detail)] if image_problem else own_problems(record, config)
            if not problems:
                problems = duplicate_problems(record, seen, config)
            if problems:
                report.reasons.update(reason for reason, _ in problems)
                row = {
                    "id": record["id"], "line": entry.line, "image": record["image"],
                    "reasons": [reason for reason, _ in problems],
                    "detail": "; ".join(detail for _, detail in problems),
                }
                rejected.write(json.dumps(row, ensure_ascii=False) + "\n")
            else:
                writer.write(record)
                report.kept += 1
    return report
