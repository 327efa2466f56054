"""Training examples from manifests, image folders and webdataset shards, in a resumable order.

An `Example` is an optional image plus two texts: the one the LLM reads (any language, any length) and
the English one CLIP reads (the teacher in stage 1, the encoder of the `base` stage). Record layouts are
mapped to examples by dotted field names from `DataConfig`, so any manifest works without code.

Order is a pure function of (seed, epoch): a map-style source is permuted per epoch, shards are permuted
and streamed through a seeded shuffle buffer. The stream's position (epoch, examples consumed) is saved
in checkpoints, so a resumed run sees exactly the examples an uninterrupted one would.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import os
import random
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from llmdiff.errors import UserError
from llmdiff.training.config import DataConfig, DataSource

MANIFEST_NAMES = ("captions.jsonl", "metadata.jsonl", "manifest.jsonl", "captions.csv", "metadata.csv")
STREAMED = {"webdataset": ".tar", "parquet": ".parquet"}
"""Shard formats read as a stream, a shard at a time (memory does not grow with the corpus), by suffix."""
IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "webp")
SHUFFLE_BUFFER = 1000


@dataclass
class Example:
    id: str
    text: str
    """what the LLM reads"""
    clip_text: str
    """what CLIP reads (English)"""
    image: str | bytes | None = None
    """a file path, encoded image bytes, or None for text-only examples"""


def get_field(record, path: str) -> list[tuple[object, tuple[str, ...]]]:
    """Values at a dotted path; `*` matches every key or index: [(value, parts matched by the stars)]."""
    found = [(record, ())]
    for part in path.split("."):
        step = []
        for node, stars in found:
            if part == "*":
                items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
                step += [(value, stars + (str(key),)) for key, value in items]
            elif isinstance(node, dict) and part in node:
                step.append((node[part], stars))
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                step.append((node[int(part)], stars))
        found = step
    return [(value, stars) for value, stars in found if value is not None]


def _fill_stars(path: str, stars: tuple[str, ...]) -> str:
    parts, index = [], 0
    for part in path.split("."):
        if part == "*" and index < len(stars):
            parts.append(stars[index])
            index += 1
        else:
            parts.append(part)
    return ".".join(parts)


def _paired_path(clip_path: str, text_path: str) -> str:
    """`clip_path` with each `*` taking the part at the same position of the matched `text_path`, so
    `captions.en.*.text` pairs `captions.fr.short.text` with `captions.en.short.text`."""
    matched = text_path.split(".")
    parts = clip_path.split(".")
    return ".".join(matched[i] if part == "*" and i < len(matched) else part for i, part in enumerate(parts))


def record_examples(record: dict, config: DataConfig, root: Path | None, fallback_id: str) -> list[Example]:
    """The examples one record gives: one per text field (or star match) that is present."""
    image = None
    if config.image_field is not None:
        values = get_field(record, config.image_field)
        if values:
            image = values[0][0]
            if isinstance(image, str) and root is not None and not os.path.isabs(image):
                image = str(root / image)
    ident = str(record.get(config.id_field, fallback_id))
    examples = []
    for field_path in config.text_fields:
        for text, stars in get_field(record, field_path):
            clip_text = text
            if config.clip_text_field is not None:
                clip = get_field(record, _paired_path(config.clip_text_field, _fill_stars(field_path, stars)))
                if not clip:
                    continue
                clip_text = clip[0][0]
            suffix = f":{field_path}" + (f"[{','.join(stars)}]" if stars else "")
            examples.append(Example(ident + suffix, str(text), str(clip_text), image))
    return examples


def resolve_source(source: DataSource) -> tuple[str, list[Path]]:
    """(format, files) of a source; raises a `UserError` for a path that does not exist."""
    path = source.path
    if any(char in path for char in "*?["):
        files = sorted(Path(p) for p in glob.glob(os.path.expanduser(path)))
        if not files:
            raise UserError(f"data source '{path}' matches no files")
    else:
        target = Path(path).expanduser()
        if not target.exists():
            raise UserError(f"data source '{path}' does not exist")
        if target.is_dir():
            manifests = [target / name for name in MANIFEST_NAMES if (target / name).is_file()]
            for kind, suffix in STREAMED.items():
                shards = sorted(target.glob(f"*{suffix}"))
                if source.format in ("auto", kind) and shards and not manifests:
                    return kind, shards
            if not manifests:
                raise UserError(f"data folder '{path}' has none of {', '.join(MANIFEST_NAMES)} and no .tar or "
                                ".parquet shards")
            target = manifests[0]
        files = [target]
    kind = source.format
    if kind == "auto":
        suffix = files[0].suffix.lower()
        kind = {".tar": "webdataset", ".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl"}.get(suffix)
        if kind is None:
            raise UserError(f"cannot tell the format of data source '{path}'; set its format (jsonl, csv, webdataset, "
                            "parquet)")
    return kind, files


def check_sources(config: DataConfig) -> None:
    """Fail before any model loads when a data path is missing."""
    for source in config.train:
        resolve_source(source)


def _read_rows(kind: str, path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8", newline="") as file:
        if kind == "csv":
            yield from csv.DictReader(file)
            return
        for number, line in enumerate(file, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as error:
                    raise UserError(f"{path} line {number}: not valid JSON ({error.msg})") from None


def iter_tar_samples(path: Path) -> Iterator[dict]:
    """webdataset samples of one shard: files grouped by key (name up to the first dot)."""
    current: dict | None = None
    with tarfile.open(path) as tar:
        for member in tar:
            if not member.isfile():
                continue
            directory, name = os.path.split(member.name)
            key, _, extension = name.partition(".")
            key = f"{directory}/{key}" if directory else key
            if current is not None and current["__key__"] != key:
                yield current
                current = None
            if current is None:
                current = {"__key__": key}
            current[extension.lower()] = tar.extractfile(member).read()
    if current is not None:
        yield current


def parquet_rows(path: Path) -> Iterator[tuple[str, dict]]:
    """(where, row) pairs of a parquet file, a row group batch at a time."""
    from llmdiff.data.ingest import table_rows

    return table_rows(path)


def webdataset_record(sample: dict, config: DataConfig) -> dict:
    """A webdataset sample as a record: its `json` fields, `txt` as `caption`, the image bytes as `image`."""
    record = json.loads(sample["json"]) if "json" in sample else {}
    if "txt" in sample:
        record.setdefault("caption", sample["txt"].decode("utf-8"))
    record.setdefault("id", sample["__key__"])
    extensions = (config.image_field,) if config.image_field in sample else IMAGE_EXTENSIONS
    for extension in extensions:
        if extension in sample:
            record[config.image_field or "image"] = sample[extension]
            break
    else:
        if config.image_field:
            record.pop(config.image_field, None)
    return record


class ExampleStream:
    """Examples of all sources in a seeded order that can be saved and restored exactly."""

    def __init__(self, config: DataConfig, seed: int = 0):
        self.config = config
        self.seed = seed
        self.examples: list[Example] = []
        self.shards: list[tuple[Path, DataSource, str]] = []
        """(file, source, format) of every streamed shard"""
        for source in config.train:
            kind, files = resolve_source(source)
            if kind in STREAMED:
                self.shards += [(file, source, kind) for file in files]
                continue
            for file in files:
                found = []
                for index, record in enumerate(_read_rows(kind, file)):
                    if source.split is None or record.get("split") == source.split:
                        found += record_examples(record, config, file.parent, f"{file.stem}-{index}")
                self.examples += found * source.weight
        if not self.examples and not self.shards:
            raise UserError("the training data holds no examples with the configured text fields "
                            f"({', '.join(config.text_fields)})")
        self.epoch = 0
        self.index = 0
        self._iterator: Iterator[Example] | None = None
        for _ in range(config.skip_examples):  # a saved position (load_state_dict) replaces this one
            self.next_example()

    @property
    def map_style(self) -> bool:
        return not self.shards

    def __len__(self) -> int:
        return len(self.examples) if self.map_style else 0

    def _epoch_order(self, epoch: int) -> Iterator[Example]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        if self.map_style:
            order = torch.randperm(len(self.examples), generator=generator) if self.config.shuffle else range(len(self.examples))
            for index in order:
                yield self.examples[int(index)]
            return
        shards = list(self.shards)
        rng = random.Random(self.seed * 1_000_003 + epoch)
        if self.config.shuffle:
            rng.shuffle(shards)
        buffer: list[Example] = []
        for shard in shards:
            for example in self.shard_examples(*shard):
                if not self.config.shuffle:
                    yield example
                    continue
                buffer.append(example)
                if len(buffer) >= SHUFFLE_BUFFER:
                    yield buffer.pop(rng.randrange(len(buffer)))
        rng.shuffle(buffer)
        yield from buffer

    def shard_examples(self, path: Path, source: DataSource, kind: str) -> Iterator[Example]:
        """The examples of one streamed shard, in its order, read as they are needed."""
        if kind == "parquet":
            records = ((record, f"{path.stem}-{number}") for number, (_where, record) in enumerate(parquet_rows(path)))
        else:
            records = ((webdataset_record(sample, self.config), sample["__key__"]) for sample in iter_tar_samples(path))
        for record, key in records:
            if source.split is None or record.get("split") == source.split:
                yield from record_examples(record, self.config, path.parent if kind == "parquet" else None, key)

    def _restart(self) -> None:
        self._iterator = self._epoch_order(self.epoch)
        for _ in range(self.index):
            next(self._iterator)

    def next_example(self) -> Example:
        if self._iterator is None:
            self._restart()
        for _attempt in range(2):
            try:
                example = next(self._iterator)
            except StopIteration:
                self.epoch += 1
                self.index = 0
                self._iterator = self._epoch_order(self.epoch)
                continue
            self.index += 1
            return example
        raise UserError("the training data yields no examples")

    def next_batch(self, size: int) -> list[Example]:
        return [self.next_example() for _ in range(size)]

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "index": self.index}

    def load_state_dict(self, state: dict) -> None:
        self.epoch = int(state["epoch"])
        self.index = int(state["index"])
        self._iterator = None


class CorruptImageError(UserError):
    """Too many training images could not be read."""


class ImageLoader:
    """Decodes, resizes and centre-crops images to [-1, 1] tensors, skipping and counting broken ones."""

    def __init__(self, resolution: int, random_flip: bool = False, max_corrupt_fraction: float = 0.01,
                 min_seen: int = 100):
        self.resolution = resolution
        self.random_flip = random_flip
        self.max_corrupt_fraction = max_corrupt_fraction
        self.min_seen = min_seen
        self.seen = 0
        self.corrupt = 0
        self.corrupt_examples: list[str] = []

    def load(self, example: Example, generator: torch.Generator | None = None) -> torch.Tensor | None:
        self.seen += 1
        try:
            source = io.BytesIO(example.image) if isinstance(example.image, bytes) else example.image
            with Image.open(source) as image:
                image = image.convert("RGB")
                image.load()
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
            self.corrupt += 1
            if len(self.corrupt_examples) < 20:
                self.corrupt_examples.append(example.id)
            self.check()
            return None
        self.check()
        image = self._resize_crop(image)
        array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
        tensor = torch.from_numpy(array).permute(2, 0, 1).contiguous()
        if self.random_flip and generator is not None and torch.rand((), generator=generator) < 0.5:
            tensor = tensor.flip(-1)
        return tensor

    def _resize_crop(self, image: Image.Image) -> Image.Image:
        size = self.resolution
        scale = size / min(image.size)
        if scale != 1.0:
            image = image.resize(
                (max(size, round(image.width * scale)), max(size, round(image.height * scale))), Image.BICUBIC
            )
        left, top = (image.width - size) // 2, (image.height - size) // 2
        return image.crop((left, top, left + size, top + size))

    def check(self) -> None:
        if self.seen >= self.min_seen and self.corrupt > self.max_corrupt_fraction * self.seen:
            raise CorruptImageError(
                f"{self.corrupt} of {self.seen} images could not be read (over the limit of "
                f"{self.max_corrupt_fraction:.1%}, data.max_corrupt_fraction); first ones: "
                f"{', '.join(self.corrupt_examples[:5])}"
            )

    def summary(self) -> str:
        # `seen` counts reads, and a run reads each image once per epoch: counting them as images would
        # report "0 of 840 images" for an 8-image set.
        if not self.corrupt:
            return f"{self.seen} image read{'' if self.seen == 1 else 's'}, none failed"
        return f"{self.corrupt} of {self.seen} image reads failed and were skipped"
