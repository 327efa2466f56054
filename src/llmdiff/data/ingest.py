"""Turning a user's images into one normalised manifest.

Three kinds of source: a folder of images with sidecar `.txt` captions; a table (CSV, TSV, JSONL or
parquet) of local image paths and captions; webdataset tar shards, whose images are extracted to a folder.
Every record gets the image's width, height and sha256. Images that cannot be read are still listed, with
nulls, so that `validate` can count and report them in one place.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from llmdiff.data.files import map_streaming
from llmdiff.data.imageinfo import IMAGE_SUFFIXES, ImageInfo, probe_image, probe_image_bytes
from llmdiff.data.manifest import ManifestWriter, safe_id
from llmdiff.errors import UserError

logger = logging.getLogger(__name__)

SOURCE_KINDS = ("auto", "folder", "table", "webdataset")
TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".parquet")
IMAGE_COLUMNS = ("image", "path", "image_path", "file", "filename")
CAPTION_COLUMNS = ("caption", "text", "prompt")
ID_COLUMNS = ("id", "key")
# Fields the manifest owns: a source's own values for them are replaced, never passed through.
OWNED_FIELDS = ("id", "image", "caption", "width", "height", "sha256")


@dataclass
class IngestConfig:
    kind: str = "auto"
    """Source kind: folder, table, webdataset, or auto (from the suffix / folder contents)."""
    image_column: str | None = None
    """Table column holding the image path (default: the first of image, path, image_path, file, filename)."""
    caption_column: str | None = None
    """Table column holding the caption (default: the first of caption, text, prompt)."""
    id_column: str | None = None
    """Table column holding the sample id (default: id or key if present, else the image path)."""
    images_dir: Path | None = None
    """Where images from webdataset tars are extracted (default: `<manifest stem>-images/` beside it)."""
    workers: int = 4
    """Threads reading and hashing images."""

    def __post_init__(self):
        if self.kind not in SOURCE_KINDS:
            raise UserError(f"source kind '{self.kind}' is not one of {', '.join(SOURCE_KINDS)}")
        if self.workers < 1:
            raise UserError("workers must be at least 1")


@dataclass
class IngestReport:
    records: int = 0
    unreadable: int = 0
    by_source: dict[str, int] = field(default_factory=dict)


def source_kind(path: Path) -> str:
    if path.is_dir():
        entries = [entry for entry in path.iterdir() if entry.is_file()]
        has_tars = any(entry.suffix == ".tar" for entry in entries)
        has_images = any(entry.suffix.lower() in IMAGE_SUFFIXES for entry in entries)
        return "webdataset" if has_tars and not has_images else "folder"
    if path.suffix == ".tar":
        return "webdataset"
    if path.suffix.lower() in TABLE_SUFFIXES:
        return "table"
    raise UserError(f"'{path}' is neither a folder, a table ({', '.join(TABLE_SUFFIXES)}) nor a .tar shard")


# --- folder of images with sidecar captions -------------------------------------------------------------


def folder_samples(root: Path) -> Iterator[dict]:
    """Images under `root` in a stable order, captions from `<same stem>.txt` (empty when absent)."""
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        for name in sorted(files):
            path = Path(folder) / name
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            sidecar = path.with_suffix(".txt")
            caption = sidecar.read_text(encoding="utf-8", errors="replace").strip() if sidecar.is_file() else ""
            relative = path.relative_to(root).with_suffix("")
            yield {"id": safe_id(str(relative)), "image": str(path), "caption": caption}


# --- tables ---------------------------------------------------------------------------------------------


def _typed(value: str):
    """CSV cells arrive as text; numbers become numbers so score filters can compare them."""
    if value == "":
        return None
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def table_rows(path: Path) -> Iterator[tuple[str, dict]]:
    """(where, row) pairs from a CSV/TSV/JSONL/parquet file, read incrementally; CSV cells stay text."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        with open(path, encoding="utf-8", newline="") as file:
            reader = csv.DictReader(file, delimiter="\t" if suffix == ".tsv" else ",")
            for row in reader:
                if None in row:
                    raise UserError(f"{path} line {reader.line_num}: more cells than header columns")
                yield f"{path} line {reader.line_num}", row
    elif suffix == ".jsonl":
        with open(path, encoding="utf-8") as file:
            for number, text in enumerate(file, start=1):
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as error:
                    raise UserError(f"{path} line {number}: not valid JSON ({error.msg})") from None
                if not isinstance(row, dict):
                    raise UserError(f"{path} line {number}: expected a JSON object")
                yield f"{path} line {number}", row
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.ParquetFile(path)
        except Exception as error:  # pyarrow raises its own error types for a damaged file
            raise UserError(f"'{path}' is not a readable parquet file: {error}") from None
        number = 0
        for batch in table.iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                number += 1
                yield f"{path} row {number}", row
    else:
        raise UserError(f"'{path}': tables must be {', '.join(TABLE_SUFFIXES)}")


def _pick_column(row: dict, chosen: str | None, candidates: tuple[str, ...], what: str, where: str,
                 required: bool = True) -> str | None:
    """The column the user named, else the first candidate present; None only if not `required`."""
    if chosen is not None:
        if chosen not in row:
            raise UserError(f"{where}: no column '{chosen}' (columns: {', '.join(map(str, row))})")
        return chosen
    found = next((name for name in candidates if name in row), None)
    if found is None and required:
        raise UserError(
            f"{where}: no {what} column; looked for {', '.join(candidates)} "
            f"(columns: {', '.join(map(str, row))}); name one with --{what}-column"
        )
    return found


def table_samples(path: Path, config: IngestConfig) -> Iterator[dict]:
    from_text = path.suffix.lower() in (".csv", ".tsv")
    columns = None
    for where, row in table_rows(path):
        if columns is None:
            columns = (
                _pick_column(row, config.image_column, IMAGE_COLUMNS, "image", where),
                _pick_column(row, config.caption_column, CAPTION_COLUMNS, "caption", where),
                _pick_column(row, config.id_column, ID_COLUMNS, "id", where, required=False),
            )
        image_column, caption_column, id_column = columns
        image = row.get(image_column)
        if not isinstance(image, str) or not image.strip():
            raise UserError(f"{where}: empty image path in column '{image_column}'")
        if "://" in image:
            raise UserError(f"{where}: '{image}' is a URL; only local files are read, download them first")
        caption = row.get(caption_column)
        caption = "" if caption is None else str(caption).strip()
        sample_id = row.get(id_column) if id_column else None
        if sample_id in (None, ""):
            sample_id = os.path.splitext(os.path.normpath(image))[0]
        sample_id = safe_id(str(sample_id))
        extras = {key: _typed(value) if from_text else value for key, value in row.items()
                  if key not in (image_column, caption_column, id_column) and key not in OWNED_FIELDS}
        image = os.path.normpath(path.parent / Path(image).expanduser())
        yield {"id": sample_id, "image": image, "caption": caption, **extras}


# --- webdataset tars ------------------------------------------------------------------------------------


def _write_file(path: Path, data: bytes) -> None:
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def tar_samples(tars: list[Path], images_dir: Path) -> Iterator[tuple[dict, ImageInfo]]:
    """Samples from webdataset shards; each image is written to `images_dir/<id>.<ext>`."""
    import webdataset

    images_dir.mkdir(parents=True, exist_ok=True)
    for tar in tars:
        dataset = webdataset.WebDataset(str(tar), shardshuffle=False, empty_check=False)
        try:
            for sample in dataset:
                key = sample["__key__"]
                extension = next((ext for ext in ("png", "jpg", "jpeg", "webp") if ext in sample), None)
                if extension is None:
                    logger.warning("%s: sample '%s' has no png/jpg/webp image; skipped", tar, key)
                    continue
                meta = json.loads(sample["json"]) if "json" in sample else {}
                if not isinstance(meta, dict):
                    meta = {}
                caption = sample.get("txt") or sample.get("caption")
                caption = caption.decode("utf-8", errors="replace") if caption else str(meta.get("caption", ""))
                sample_id = safe_id(key)
                image_path = images_dir / f"{sample_id}.{'jpg' if extension == 'jpeg' else extension}"
                _write_file(image_path, sample[extension])
                extras = {k: v for k, v in meta.items() if k not in OWNED_FIELDS}
                record = {"id": sample_id, "image": str(image_path), "caption": caption.strip(), **extras}
                yield record, probe_image_bytes(sample[extension])
        except (OSError, ValueError, tarfile.TarError) as error:
            raise UserError(f"could not read webdataset shard '{tar}': {error}") from None


# --- the command ----------------------------------------------------------------------------------------


def _with_info(record: dict, info: ImageInfo) -> dict:
    return {**record, "width": info.width, "height": info.height, "sha256": info.sha256}


def ingest_sources(
    sources: list[str | os.PathLike], output: str | os.PathLike, config: IngestConfig | None = None
) -> IngestReport:
    """Read every source and write one manifest to `output` (atomically); returns counts."""
    config = config or IngestConfig()
    output = Path(output).expanduser().absolute()
    sources = [Path(source).expanduser().absolute() for source in sources]
    if not sources:
        raise UserError("name at least one source")
    for source in sources:
        if not source.exists():
            raise UserError(f"source '{source}' does not exist")
    report = IngestReport()
    with ManifestWriter(output) as writer:
        for source in sources:
            kind = source_kind(source) if config.kind == "auto" else config.kind
            if kind == "webdataset":
                tars = sorted(source.glob("*.tar")) if source.is_dir() else [source]
                images_dir = config.images_dir or output.parent / f"{output.stem}-images"
                pairs = tar_samples(tars, Path(images_dir).absolute())
            else:
                if kind == "folder" and not source.is_dir():
                    raise UserError(f"'{source}' is not a folder")
                samples = folder_samples(source) if kind == "folder" else table_samples(source, config)
                pairs = map_streaming(lambda record: (record, probe_image(record["image"])), samples, config.workers)
            before = writer.count
            for record, info in pairs:
                if info.problem:
                    report.unreadable += 1
                writer.write(_with_info(record, info))
            report.by_source[str(source)] = writer.count - before
        report.records = writer.count
    return report
