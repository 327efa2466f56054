"""Prompt sets: ParaPrompts-400, DPG-Bench, PartiPrompts in their published formats, and user files.

The published sets need no special case: each is a table (CSV, TSV or JSONL) whose prompt, category and id
columns are found by name. ParaPrompts-400 carries a Chinese column (`Prompt_Chinese`), chosen with
`language="zh"`. A TXT file holds one prompt per line.
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from llmdiff.errors import UserError

# Column names tried, in order, case-insensitively. ParaPrompts: Prompt / Prompt_Chinese / Category / Image;
# DPG-Bench: id / prompt; PartiPrompts: Prompt / Category.
LANGUAGE_COLUMNS = {
    "en": ("prompt", "prompt_en", "text", "caption"),
    "zh": ("prompt_chinese", "prompt_zh"),
}
CATEGORY_COLUMNS = ("category",)
ID_COLUMNS = ("id", "image")


@dataclass(frozen=True)
class PromptRecord:
    id: str
    """unique and safe as a file name; also the image's name in every run directory"""
    prompt: str
    category: str | None
    index: int
    """row position in the source file: seeds derive from it, so a subset keeps each prompt's seed"""


@dataclass
class PromptSelection:
    """Which prompts of a file to evaluate."""

    language: str = "en"
    """language of the prompt column: 'en', 'zh', or any code with a `prompt_<code>` column"""
    column: str | None = None
    """exact prompt column name; overrides `language`"""
    limit: int | None = None
    """keep at most this many prompts"""
    sample_seed: int | None = None
    """with `limit`: a random subset drawn with this seed (default: the first `limit`)"""
    categories: tuple[str, ...] = ()
    """keep only these categories (exact names)"""

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise UserError(f"the subset size must be at least 1, not {self.limit}")
        self.categories = tuple(self.categories)


def load_prompts(path: str | os.PathLike, selection: PromptSelection | None = None) -> list[PromptRecord]:
    """Read a prompt file (.csv, .tsv, .jsonl, .txt) and apply the selection."""
    selection = selection or PromptSelection()
    path = Path(path)
    rows = _read_rows(path)
    if path.suffix.lower() == ".txt":
        records = [PromptRecord(f"{i:05d}", row["prompt"], None, i) for i, row in enumerate(rows)]
    else:
        records = _records_from_table(path, rows, selection)
    return select(records, selection)


def select(records: list[PromptRecord], selection: PromptSelection) -> list[PromptRecord]:
    if selection.categories:
        known = {r.category for r in records}
        unknown = [c for c in selection.categories if c not in known]
        if unknown:
            listed = ", ".join(sorted(str(c) for c in known if c is not None)) or "none"
            raise UserError(f"unknown categories {unknown}; this prompt set has: {listed}")
        records = [r for r in records if r.category in selection.categories]
    if selection.limit is not None and selection.limit < len(records):
        if selection.sample_seed is None:
            records = records[: selection.limit]
        else:
            chosen = random.Random(selection.sample_seed).sample(range(len(records)), selection.limit)
            records = [records[i] for i in sorted(chosen)]
    return records


def _read_rows(path: Path) -> list[dict]:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".tsv", ".jsonl", ".txt"):
        raise UserError(f"prompt file '{path}' must end in .csv, .tsv, .jsonl or .txt")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"prompt file '{path}' does not exist") from None
    except UnicodeDecodeError as error:
        raise UserError(f"prompt file '{path}' is not valid UTF-8 (byte {error.start})") from None
    except OSError as error:
        raise UserError(f"cannot read prompt file '{path}': {error.strerror}") from None
    if suffix == ".txt":
        rows = [{"prompt": line.strip()} for line in text.splitlines() if line.strip()]
    elif suffix == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise UserError(f"'{path}' line {number} is not JSON: {error.msg}") from None
            if not isinstance(row, dict):
                raise UserError(f"'{path}' line {number} must be a JSON object with a prompt field")
            rows.append(row)
    else:
        reader = csv.DictReader(text.splitlines(), delimiter="\t" if suffix == ".tsv" else ",")
        rows = list(reader)
    if not rows:
        raise UserError(f"prompt file '{path}' holds no prompts")
    return rows


def _find_column(columns: Iterable[str], candidates: Iterable[str]) -> str | None:
    by_lower = {c.lower(): c for c in columns if c is not None}
    return next((by_lower[c] for c in candidates if c in by_lower), None)


def _records_from_table(path: Path, rows: list[dict], selection: PromptSelection) -> list[PromptRecord]:
    columns = list(dict.fromkeys(key for row in rows for key in row if key is not None))
    if selection.column is not None:
        if selection.column not in columns:
            raise UserError(f"'{path}' has no column {selection.column!r}; it has {columns}")
        text_column = selection.column
    else:
        candidates = LANGUAGE_COLUMNS.get(selection.language, (f"prompt_{selection.language}",))
        text_column = _find_column(columns, candidates)
        if text_column is None:
            raise UserError(
                f"'{path}' has no prompt column for language {selection.language!r} (looked for "
                f"{', '.join(candidates)}); it has {columns}; name one with --column"
            )
    category_column = _find_column(columns, CATEGORY_COLUMNS)
    id_column = _find_column(columns, ID_COLUMNS)
    records = []
    for index, row in enumerate(rows):
        text = row.get(text_column)
        if not isinstance(text, str) or not text.strip():
            raise UserError(f"'{path}' row {index + 1}: the {text_column!r} column is empty or not text")
        raw_id = row.get(id_column) if id_column else None
        prompt_id = _safe_id(Path(str(raw_id)).stem) if raw_id not in (None, "") else f"{index:05d}"
        category = row.get(category_column) if category_column else None
        records.append(PromptRecord(prompt_id, text.strip(), None if category in (None, "") else str(category), index))
    _check_unique(path, records)
    return records


def _safe_id(raw: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", raw).lstrip(".") or "_"


def _check_unique(path: Path, records: list[PromptRecord]) -> None:
    seen: set[str] = set()
    for record in records:
        if record.id in seen:
            raise UserError(f"'{path}': prompt id {record.id!r} appears twice; ids must be unique")
        seen.add(record.id)


def write_prompts(path: Path, records: list[PromptRecord]) -> None:
    lines = [json.dumps(asdict(r), ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_prompts(path: Path) -> list[PromptRecord]:
    """A selection written by `write_prompts` (a run directory's prompts.jsonl)."""
    records = []
    for row in _read_rows(path):
        try:
            records.append(PromptRecord(str(row["id"]), row["prompt"], row.get("category"), int(row["index"])))
        except (KeyError, TypeError, ValueError) as error:
            raise UserError(f"'{path}' is not a prompt selection written by `llmdiff eval prompts`: {error}") from None
    _check_unique(path, records)
    return records
