"""Packing a manifest into webdataset tar shards of about a target size, with an index the trainer reads.

Each sample is `<id>.<png|jpg|webp>` (the image bytes as they are; other formats are re-encoded to PNG),
`<id>.txt` (the caption) and `<id>.json` (the full record, `image` naming the member in the shard).
Shards are finished one at a time under a temporary name and renamed when complete; a progress file lists
the finished ones, so an interrupted run picks up after the last complete shard. `index.json` is written
last.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

from llmdiff.data.files import atomic_output
from llmdiff.data.manifest import read_manifest
from llmdiff.errors import UserError

INDEX_NAME = "index.json"
INDEX_FORMAT = "llmdiff-shards/1"
_PASSTHROUGH_EXTENSIONS = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".webp": "webp"}
_TAR_BLOCK = 512


@dataclass
class ShardConfig:
    shard_size: int = 64_000_000
    """Target bytes per shard; a shard closes before the sample that would take it past this."""
    prefix: str = "shard"
    """Shard file names: `<prefix>-000000.tar`, …"""

    def __post_init__(self):
        if self.shard_size < 4 * _TAR_BLOCK:
            raise UserError(f"shard size {self.shard_size} bytes is too small for even one sample")
        if not self.prefix or "/" in self.prefix:
            raise UserError(f"shard prefix '{self.prefix}' must be a plain file name part")


def image_member(path: str) -> tuple[str, bytes]:
    """(webdataset extension, bytes) for an image file; PNG/JPEG/WebP untouched, others re-encoded to PNG."""
    suffix = Path(path).suffix.lower()
    with open(path, "rb") as file:
        data = file.read()
    if suffix in _PASSTHROUGH_EXTENSIONS:
        return _PASSTHROUGH_EXTENSIONS[suffix], data
    from PIL import Image

    buffer = io.BytesIO()
    with Image.open(io.BytesIO(data)) as image:
        image.save(buffer, format="PNG")
    return "png", buffer.getvalue()


def tar_entry_bytes(members: dict[str, bytes]) -> int:
    """Bytes a sample adds to a tar: a header block per member plus its data padded to whole blocks."""
    return sum(_TAR_BLOCK + -(-len(data) // _TAR_BLOCK) * _TAR_BLOCK for data in members.values())


def _manifest_identity(manifest: Path, config: ShardConfig) -> dict:
    stat = manifest.stat()
    return {"manifest": str(manifest), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "shard_size": config.shard_size, "prefix": config.prefix}


class _ShardProgress:
    """The finished shards of an interrupted run, kept in a small JSONL file beside the shards."""

    def __init__(self, path: Path, identity: dict):
        self.path = path
        self.shards: list[dict] = []
        if path.is_file():
            lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            if lines and lines[0] == identity:
                self.shards = [shard for shard in lines[1:] if (path.parent / shard["name"]).is_file()]
        with atomic_output(path) as file:  # rewrite: drops a stale header or a half-written last line
            for line in [identity, *self.shards]:
                file.write(json.dumps(line) + "\n")

    def add(self, shard: dict) -> None:
        self.shards.append(shard)
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(json.dumps(shard) + "\n")
            file.flush()
            os.fsync(file.fileno())


class _OpenShard:
    def __init__(self, folder: Path, name: str):
        import webdataset

        self.path = folder / name
        self.temp = folder / f".{name}.tmp"
        self.file = open(self.temp, "wb")
        # mtime fixed so that the same manifest always gives byte-identical shards.
        self.writer = webdataset.TarWriter(self.file, encoder=False, mtime=0)
        self.samples = 0
        self.estimated_bytes = 2 * _TAR_BLOCK  # the end-of-archive blocks

    def write(self, sample: dict, size: int) -> None:
        self.writer.write(sample)
        self.samples += 1
        self.estimated_bytes += size

    def finish(self) -> int:
        self.writer.close()
        if not self.file.closed:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
        os.replace(self.temp, self.path)
        return self.path.stat().st_size


def write_shards(manifest: str | os.PathLike, output_dir: str | os.PathLike, config: ShardConfig | None = None) -> dict:
    """Write shards and `index.json` into `output_dir`; returns the index."""
    config = config or ShardConfig()
    manifest = Path(manifest).expanduser().absolute()
    if not manifest.is_file():
        raise UserError(f"manifest '{manifest}' does not exist")
    output_dir = Path(output_dir).expanduser().absolute()
    output_dir.mkdir(parents=True, exist_ok=True)
    progress = _ShardProgress(output_dir / f".{config.prefix}-progress.jsonl", _manifest_identity(manifest, config))
    done = sum(shard["samples"] for shard in progress.shards)
    current: _OpenShard | None = None

    def close_current() -> None:
        size = current.finish()
        progress.add({"name": current.path.name, "samples": current.samples, "bytes": size})

    for position, entry in enumerate(read_manifest(manifest)):
        if position < done:
            continue
        record = entry.record
        key = record["id"]
        if "." in key or "/" in key:
            raise UserError(f"{manifest} line {entry.line}: id '{key}' contains '.' or '/', which a webdataset "
                            "key cannot; re-ingest or rename it")
        try:
            extension, image = image_member(record["image"])
        except OSError as error:
            raise UserError(f"{manifest} line {entry.line}: cannot read image '{record['image']}' ({error}); "
                            "run `llmdiff data validate` first") from None
        in_shard = {**record, "image": f"{key}.{extension}"}
        members = {extension: image, "txt": record["caption"].encode("utf-8"),
                   "json": json.dumps(in_shard, ensure_ascii=False).encode("utf-8")}
        size = tar_entry_bytes(members)
        if current is not None and current.samples and current.estimated_bytes + size > config.shard_size:
            close_current()
            current = None
        if current is None:
            current = _OpenShard(output_dir, f"{config.prefix}-{len(progress.shards):06d}.tar")
        current.write({"__key__": key, **members}, size)
    if current is not None:
        close_current()

    index = {
        "format": INDEX_FORMAT,
        "manifest": str(manifest),
        "shard_size": config.shard_size,
        "samples": sum(shard["samples"] for shard in progress.shards),
        "bytes": sum(shard["bytes"] for shard in progress.shards),
        "shards": progress.shards,
    }
    with atomic_output(output_dir / INDEX_NAME) as file:
        json.dump(index, file, indent=2)
        file.write("\n")
    progress.path.unlink(missing_ok=True)
    return index


def shard_paths(index_path: str | os.PathLike) -> list[Path]:
    """The shard files an index lists, as paths, checked to exist: what a trainer passes to WebDataset."""
    index_path = Path(index_path)
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise UserError(f"cannot read shard index '{index_path}': {error}") from None
    if index.get("format") != INDEX_FORMAT:
        raise UserError(f"'{index_path}' is not a shard index (format {index.get('format')!r})")
    paths = [index_path.parent / shard["name"] for shard in index["shards"]]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise UserError(f"shard index '{index_path}' lists missing shards: {', '.join(missing[:3])}")
    return paths
