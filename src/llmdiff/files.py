"""Files written so that a crash never leaves half of one under its real name."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TypeVar

from llmdiff.errors import UserError

T = TypeVar("T")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open a temp file beside `path`; it replaces `path` only if the block finishes without error.

    A crash or Ctrl-C therefore never leaves a half-written output under the real name.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise UserError(f"output folder '{path.parent}' does not exist")
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(handle, mode, encoding=encoding) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, 0o666 & ~_umask())  # mkstemp makes it private; an output gets the usual mode
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def give_usual_modes(root: Path) -> None:
    """Files and folders under `root` get the modes a plain `open`/`mkdir` would give them.

    safetensors writes its files private (0600) and `mkdtemp` makes private folders; outputs meant to be
    shared, such as model folders, should read like any other file the user writes.
    """
    mask = _umask()
    paths = [root, *root.rglob("*")] if root.is_dir() else [root]
    for path in paths:
        if not path.is_symlink():
            os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)


def replace_path(staging: Path, output: Path) -> None:
    """Move a finished file or folder into place, with the usual modes.

    A file replaces atomically; an earlier folder is removed only once the new one is in, so a crash at any
    point leaves either the old folder or the new one under `output` (or beside it, under `.NAME.old`).
    """
    give_usual_modes(staging)
    if staging.is_file() or not output.exists():
        os.replace(staging, output)
        return
    old = output.with_name(f".{output.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    os.replace(output, old)
    os.replace(staging, output)
    shutil.rmtree(old, ignore_errors=True)


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of up to `size` consecutive items (itertools.batched arrives only in Python 3.12)."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def read_json_object(file: Path) -> dict:
    """A JSON file that must hold an object (a config), or a one-line error naming the file."""
    try:
        data = json.loads(Path(file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"'{file}' is not readable JSON: {' '.join(str(error).split())}") from error
    if not isinstance(data, dict):
        raise UserError(f"'{file}' does not hold a JSON object")
    return data


def existing_subfolder(parent: str | os.PathLike | None, name: str) -> Path | None:
    """`parent/name` when it is a folder, else None (also for no parent, or one that is not a local folder)."""
    if parent is None:
        return None
    path = Path(parent) / name
    return path if path.is_dir() else None
