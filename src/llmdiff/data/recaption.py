"""Rewriting a manifest's captions with a `Captioner`, resumably, on one or many processes.

Work is kept in `<output>.parts/`: each process appends `{"id", "caption"}` lines (or `{"id", "error"}`
for an image that cannot be opened) to its own `part-<process>.jsonl`, flushed after every batch. A run
first reads every part file and skips the ids already there, so an interrupted run — or one started again
with a different number of processes — only does what is left. When all processes are done, the main one
merges the parts with the input manifest into `output` (atomically); the parts stay, so a finished run
started again only merges.

Under `accelerate launch`, process i takes the samples at positions i, i + n, i + 2n, … of the manifest.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from llmdiff.data.captioners import Captioner
from llmdiff.data.files import batched
from llmdiff.data.keystore import KeyStore
from llmdiff.data.manifest import ManifestWriter, iter_records, read_manifest
from llmdiff.errors import UserError


@dataclass
class RecaptionConfig:
    batch_size: int = 8
    """Images per captioner call."""
    keep_original: str | None = "original_caption"
    """Column that keeps the old caption in the output manifest (None: drop it)."""
    progress: bool = True

    def __post_init__(self):
        if self.batch_size < 1:
            raise UserError("batch_size must be at least 1")


@dataclass
class RecaptionReport:
    captioned_now: int = 0
    """Captions written by this process in this run."""
    seconds: float = 0.0
    written: int | None = None
    """Records in the merged output (main process only)."""
    failed: int | None = None
    """Records left out of the output because their image could not be opened (main process only)."""

    @property
    def images_per_second(self) -> float:
        return self.captioned_now / self.seconds if self.seconds > 0 else 0.0


def parts_dir(output: Path) -> Path:
    return output.with_name(output.name + ".parts")


def _drop_partial_last_line(path: Path) -> None:
    """A crash mid-write can leave a line without its newline; cut it so appends start clean."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as file:
        data = file.read()
        if data.endswith(b"\n"):
            return
        file.truncate(data.rfind(b"\n") + 1)


def read_parts(folder: Path, store: KeyStore) -> None:
    """Load every finished line of every part file into `store` as id → JSON line."""
    for part in sorted(folder.glob("part-*.jsonl")):
        with open(part, encoding="utf-8") as file:
            for number, text in enumerate(file, start=1):
                if not text.endswith("\n"):
                    break  # a half-written last line: that sample is redone
                try:
                    row = json.loads(text)
                    store.put(row["id"], text.strip())
                except (json.JSONDecodeError, KeyError, TypeError):
                    raise UserError(f"{part} line {number}: not a caption record; delete the file to redo it") from None


def _open_images(records: list[dict]):
    """(record, image or None, error) for each record; images are decoded here, in the caller's thread."""
    from PIL import Image

    result = []
    for record in records:
        try:
            with Image.open(record["image"]) as image:
                result.append((record, image.convert("RGB"), None))
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            result.append((record, None, " ".join(str(error).split()) or type(error).__name__))
    return result


def recaption_manifest(
    manifest: str | os.PathLike,
    output: str | os.PathLike,
    captioner: Captioner,
    config: RecaptionConfig | None = None,
    accelerator=None,
) -> RecaptionReport:
    """Caption every sample of `manifest` not yet captioned, then merge everything into `output`."""
    from llmdiff.progress import progress_bar

    config = config or RecaptionConfig()
    if accelerator is None:
        from accelerate import Accelerator

        accelerator = Accelerator()
    rank, world = accelerator.process_index, accelerator.num_processes
    manifest = Path(manifest).expanduser().absolute()
    output = Path(output).expanduser().absolute()
    if not output.parent.is_dir():
        raise UserError(f"output folder '{output.parent}' does not exist")
    folder = parts_dir(output)
    folder.mkdir(exist_ok=True)
    part = folder / f"part-{rank:05d}.jsonl"
    _drop_partial_last_line(part)

    report = RecaptionReport()
    with KeyStore(folder) as done:
        read_parts(folder, done)
        mine = (entry.record for position, entry in enumerate(read_manifest(manifest)) if position % world == rank)
        todo_count = sum(1 for record in mine if record["id"] not in done)
        todo = (entry.record for position, entry in enumerate(read_manifest(manifest))
                if position % world == rank and entry.record["id"] not in done)
        bar = progress_bar(todo_count, unit="img", desc=f"recaption [{rank + 1}/{world}]",
                           disable=not config.progress)
        start = time.perf_counter()
        with open(part, "a", encoding="utf-8") as out, bar:
            for batch in batched(todo, config.batch_size):
                opened = _open_images(batch)
                good = [(record, image) for record, image, error in opened if image is not None]
                captions = captioner.caption([image for _, image in good]) if good else []
                if len(captions) != len(good):
                    raise RuntimeError(f"captioner returned {len(captions)} captions for {len(good)} images")
                written = dict(zip((record["id"] for record, _ in good), captions))
                for record, image, error in opened:
                    if image is None:
                        row = {"id": record["id"], "error": error}
                    else:
                        row = {"id": record["id"], "caption": written[record["id"]]}
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
                out.flush()
                os.fsync(out.fileno())
                report.captioned_now += len(good)
                bar.update(len(batch))  # tqdm shows the throughput in img/s
        report.seconds = time.perf_counter() - start

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        report.written, report.failed = merge(manifest, output, config.keep_original)
    accelerator.wait_for_everyone()
    return report


def merge(manifest: Path, output: Path, keep_original: str | None) -> tuple[int, int]:
    """Write `manifest` with the captions from the part files to `output`; returns (written, failed)."""
    failed = missing = 0
    with KeyStore(output.parent) as results:
        read_parts(parts_dir(output), results)
        with ManifestWriter(output) as writer:
            for record in iter_records(manifest):
                line = results.get(record["id"])
                if line is None:
                    missing += 1
                    continue
                row = json.loads(line)
                if "caption" not in row:
                    failed += 1
                    continue
                if keep_original:
                    record[keep_original] = record["caption"]
                record["caption"] = row["caption"]
                writer.write(record)
            if missing:
                raise UserError(f"{missing} samples of {manifest} have no caption yet; run recaption again to finish")
    return writer.count, failed
