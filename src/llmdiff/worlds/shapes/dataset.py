"""Shapes-world datasets: images, one JSONL of records, optional webdataset shards, a length figure.

Layout of a dataset directory:

    world.json                  the WorldConfig and dataset settings it was made with
    records.jsonl               one record per sample, all splits (written to a temp file, then renamed)
    images/<split>/<key>.png
    shards/<split>-000000.tar   optional webdataset shards: __key__, png, txt (English paragraph), json
    caption_lengths.png         token counts of short vs paragraph captions, 77-token line drawn
    stats.json                  the numbers behind the figure

Splits come from disjoint seed ranges, so no scene of one split can appear in another. Samples are made
and written in batches and never accumulated, so memory stays flat as N grows.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from llmdiff.files import batched
from llmdiff.errors import UserError
from llmdiff.worlds.shapes.captions import ALL_STYLES, LANGUAGES, STYLES, caption_record
from llmdiff.worlds.shapes.config import WorldConfig
from llmdiff.worlds.shapes.render import render
from llmdiff.worlds.shapes.scene import sample_scene
from llmdiff.worlds.shapes.stats import LengthHistograms
from llmdiff.worlds.shapes.tokens import mention_positions

SPLIT_SEED_BASE = {"train": 0, "val": 1_000_000_000, "test": 2_000_000_000}
"""Seed of sample i of a split is base + i; the ranges cannot overlap below a billion samples."""
OUTPUTS = ("world.json", "records.jsonl", "images", "shards", "caption_lengths.png", "stats.json")


@dataclass(frozen=True)
class DatasetConfig:
    """What `make_dataset` writes."""

    n: int
    """Samples over all splits."""
    world: WorldConfig = field(default_factory=WorldConfig)
    languages: tuple[str, ...] = tuple(LANGUAGES)
    styles: tuple[str, ...] = STYLES
    """The world's own styles by default; add "freeform" for captions as people write them."""
    val_fraction: float = 0.05
    test_fraction: float = 0.05
    shard_size: int = 0
    """Samples per webdataset tar shard; 0 writes no shards."""
    batch_size: int = 256
    """Samples made and tokenized together; bounds memory."""
    workers: int = 2
    """Processes making batches (1: in this process). The writing stays in this process, in order."""

    def __post_init__(self):
        if self.n <= 0:
            raise UserError(f"the number of samples must be positive, not {self.n}")
        for language in self.languages:
            if language not in LANGUAGES:
                raise UserError(f"unknown language {language!r}; known: {', '.join(LANGUAGES)}")
        for style in self.styles:
            if style not in ALL_STYLES:
                raise UserError(f"unknown caption style {style!r}; known: {', '.join(ALL_STYLES)}")
        if not self.languages or not self.styles:
            raise UserError("give at least one language and one style")
        if not (0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1 and self.val_fraction + self.test_fraction < 1):
            raise UserError("val and test fractions must be in [0, 1) and leave room for training samples")
        if self.workers < 1 or self.batch_size < 1:
            raise UserError("workers and batch size must be at least 1")
        if self.shard_size < 0:
            raise UserError(f"shard size must be 0 (no shards) or positive, not {self.shard_size}")

    def split_sizes(self) -> dict[str, int]:
        val, test = round(self.n * self.val_fraction), round(self.n * self.test_fraction)
        return {"train": self.n - val - test, "val": val, "test": test}


def prepare_output(out: str | Path, overwrite: bool) -> Path:
    """Refuse a non-empty directory unless `overwrite`, which clears only what a dataset consists of."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a directory")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise UserError(f"{out} is not empty; choose another directory or pass --overwrite")
        for name in OUTPUTS:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return out


def sample_seeds(config: DatasetConfig) -> Iterator[tuple[str, int, int]]:
    """(split, index, seed) of every sample, split by split."""
    for split, size in config.split_sizes().items():
        for index in range(size):
            yield split, index, SPLIT_SEED_BASE[split] + index


def make_records(config: DatasetConfig, clip_tokenizer, llm_tokenizer, seeds: Sequence[tuple[str, int, int]]):
    """Images (PNG bytes) and records of a batch of samples, as a list; tokenizers are called once per batch."""
    return list(_records(config, clip_tokenizer, llm_tokenizer, seeds))


def _records(config, clip_tokenizer, llm_tokenizer, seeds):
    pairs = [(language, style) for language in config.languages for style in config.styles]
    samples, texts, spans = [], [], []
    for split, index, seed in seeds:
        scene = sample_scene(seed, config.world)
        captions = [caption_record(scene, style, language, seed, world=config.world) for language, style in pairs]
        samples.append((split, index, seed, scene, captions))
        texts += [c.text for c in captions]
        spans += [c.mention_spans for c in captions]
    clip_counts, clip_positions = mention_positions(clip_tokenizer, texts, spans)
    # LLM tokens are only counted: its window is long, so where objects fall in it matters less.
    llm_counts, _ = mention_positions(llm_tokenizer, texts, [None] * len(texts))

    for n, (split, index, seed, scene, captions) in enumerate(samples):
        key = f"{split}-{index:08d}"
        buffer = io.BytesIO()
        render(scene, config.world).save(buffer, format="PNG")
        record = {"key": key, "split": split, "seed": seed, "image": f"images/{split}/{key}.png",
                  "scene": scene.to_dict(), "captions": {}}
        for k, cap in enumerate(captions):
            t = n * len(pairs) + k
            entry = {"text": cap.text, "clip_tokens": clip_counts[t], "llm_tokens": llm_counts[t]}
            if cap.mention_spans is not None:
                entry["mentions"] = [
                    {"object": i, "chars": list(span), "clip_token": clip_positions[t][i]}
                    for i, span in enumerate(cap.mention_spans)
                ]
            record["captions"].setdefault(cap.language, {})[cap.style] = entry
        yield buffer.getvalue(), record


def make_dataset(config: DatasetConfig, out: str | Path, llm_tokenizer, overwrite: bool = False,
                 progress=None) -> dict:
    """Write the dataset of `config` to `out`; returns its stats (also written to stats.json)."""
    from llmdiff.worlds.shapes.tokenizer import clip_tokenizer

    out = prepare_output(out, overwrite)
    (out / "world.json").write_text(json.dumps({
        "world": config.world.to_dict(), "n": config.n, "splits": config.split_sizes(),
        "languages": list(config.languages), "styles": list(config.styles), "split_seed_base": SPLIT_SEED_BASE,
    }, indent=2) + "\n", encoding="utf-8")
    for split, size in config.split_sizes().items():
        if size:
            (out / "images" / split).mkdir(parents=True, exist_ok=True)
    shards = _ShardWriters(out / "shards", config.shard_size) if config.shard_size else None
    histograms = LengthHistograms()
    temporary = out / "records.jsonl.tmp"
    batches = batched(sample_seeds(config), config.batch_size)
    pool = None
    if config.workers > 1:
        import multiprocessing

        # Each worker gets the tokenizers once; batches come back in order, a few in flight at a time.
        pool = multiprocessing.get_context("spawn").Pool(
            config.workers, initializer=_start_worker, initargs=(config, llm_tokenizer)
        )
        made = pool.imap(_worker_batch, batches)
    else:
        tokenizer = clip_tokenizer()
        made = (make_records(config, tokenizer, llm_tokenizer, batch) for batch in batches)
    try:
        with open(temporary, "w", encoding="utf-8") as jsonl:
            for records in made:
                for png, record in records:
                    (out / record["image"]).write_bytes(png)
                    jsonl.write(json.dumps(record, ensure_ascii=False) + "\n")
                    histograms.add(record)
                    if shards:
                        shards.write(record, png)
                if progress:
                    progress(len(records))
        os.replace(temporary, out / "records.jsonl")
    finally:
        temporary.unlink(missing_ok=True)
        if shards:
            shards.close()
        if pool:
            pool.terminate()
    stats = histograms.summary()
    (out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    histograms.plot(out / "caption_lengths.png")
    return stats


_WORKER: dict = {}  # per worker process: its config and tokenizers, set once by _start_worker


def _start_worker(config: DatasetConfig, llm_tokenizer) -> None:
    from llmdiff.worlds.shapes.tokenizer import clip_tokenizer

    _WORKER.update(config=config, clip=clip_tokenizer(), llm=llm_tokenizer)


def _worker_batch(batch):
    return make_records(_WORKER["config"], _WORKER["clip"], _WORKER["llm"], batch)


class _ShardWriters:
    """One webdataset ShardWriter per split, opened on first use."""

    def __init__(self, directory: Path, size: int):
        directory.mkdir(parents=True, exist_ok=True)
        self.directory, self.size, self.writers = directory, size, {}

    def write(self, record: dict, png: bytes) -> None:
        import webdataset

        split = record["split"]
        if split not in self.writers:
            pattern = str(self.directory / f"{split}-%06d.tar")
            self.writers[split] = webdataset.ShardWriter(pattern, maxcount=self.size, verbose=0)
        captions = record["captions"]
        english = captions.get("en", next(iter(captions.values())))
        text = (english.get("paragraph") or next(iter(english.values())))["text"]
        self.writers[split].write({"__key__": record["key"], "png": png, "txt": text,
                                   "json": json.dumps(record, ensure_ascii=False).encode("utf-8")})

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
