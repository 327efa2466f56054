"""Atomic checkpoints: written to a temporary folder, fsynced, renamed; `latest` moves only afterwards.

Layout under `<output_dir>/checkpoints/`:

    step-000500/        complete checkpoints (accelerate state + trainer state), the last K kept
    latest              text file naming the newest complete checkpoint, replaced atomically
    .tmp-step-000600/   a checkpoint being written; left over only by a crash, removed on the next start

A crash at any moment leaves `latest` naming a complete checkpoint (or absent before the first one).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from llmdiff.errors import UserError
from llmdiff.files import give_usual_modes

LATEST = "latest"
STEP_DIR = re.compile(r"^step-(\d+)$")
COMPLETE_MARKER = "trainer_state.json"


def fsync_tree(root: Path) -> None:
    """Flush every file and folder under `root` (and `root` itself) to disk."""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as file:
                os.fsync(file.fileno())
        fsync_dir(Path(folder))


def fsync_dir(path: Path) -> None:
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def write_atomic(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    with open(temp, "w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temp, path)
    fsync_dir(path.parent)


class CheckpointManager:
    def __init__(self, root: str | os.PathLike, keep_last: int = 3):
        self.root = Path(root)
        self.keep_last = keep_last

    def step_dir(self, step: int) -> Path:
        return self.root / f"step-{step:06d}"

    def temp_dir(self, step: int) -> Path:
        return self.root / f".tmp-step-{step:06d}"

    def clean_temp(self) -> None:
        """Remove folders left by a write that never completed."""
        if self.root.is_dir():
            for path in self.root.glob(".tmp-*"):
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)

    def begin(self, step: int) -> Path:
        """A fresh temporary folder for the checkpoint of `step` (call on the main process)."""
        temp = self.temp_dir(step)
        if temp.exists():
            shutil.rmtree(temp)
        temp.mkdir(parents=True)
        return temp

    def commit(self, step: int) -> Path:
        """Make the temporary checkpoint of `step` durable and visible, then point `latest` at it."""
        temp, final = self.temp_dir(step), self.step_dir(step)
        if not (temp / COMPLETE_MARKER).is_file():
            raise RuntimeError(f"checkpoint {temp} is incomplete")
        give_usual_modes(temp)  # accelerate's safetensors files are written private
        fsync_tree(temp)
        if final.exists():  # the same step saved again (e.g. final save right after a periodic one)
            shutil.rmtree(final)
        os.rename(temp, final)
        fsync_dir(self.root)
        write_atomic(self.root / LATEST, final.name + "\n")
        self.prune()
        return final

    def save(self, step: int, write: Callable[[Path], None]) -> Path:
        """Single-process convenience: `write(temp_dir)` then commit."""
        write(self.begin(step))
        return self.commit(step)

    def checkpoints(self) -> list[Path]:
        found = [p for p in self.root.glob("step-*") if p.is_dir() and STEP_DIR.match(p.name)]
        return sorted(found, key=lambda p: int(STEP_DIR.match(p.name).group(1)))

    def latest(self) -> Path | None:
        pointer = self.root / LATEST
        if not pointer.is_file():
            return None
        path = self.root / pointer.read_text(encoding="utf-8").strip()
        return path if (path / COMPLETE_MARKER).is_file() else None

    def prune(self) -> None:
        keep = set(self.checkpoints()[-self.keep_last :])
        latest = self.latest()
        for path in self.checkpoints():
            if path not in keep and path != latest:
                shutil.rmtree(path, ignore_errors=True)

    def resolve(self, spec: str) -> Path:
        """`latest` or a checkpoint folder → the folder, checked complete."""
        if spec == LATEST:
            path = self.latest()
            if path is None:
                raise UserError(f"--resume latest: no complete checkpoint under {self.root}")
            return path
        path = Path(spec)
        if not (path / COMPLETE_MARKER).is_file():
            raise UserError(f"--resume: '{spec}' is not a complete checkpoint folder (no {COMPLETE_MARKER})")
        return path
