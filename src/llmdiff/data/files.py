"""Small file helpers shared by the data commands: atomic outputs, chunked streaming, size parsing."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, TypeVar

from llmdiff.errors import UserError

T = TypeVar("T")
R = TypeVar("R")


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
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


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


def map_streaming(function: Callable[[T], R], items: Iterable[T], workers: int, chunk: int = 64) -> Iterator[R]:
    """`map` over threads, in order, holding at most one chunk in flight so memory stays flat.

    Threads pay off here because image decoding and hashing release the GIL.
    """
    if workers <= 1:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for batch in batched(items, chunk):
            yield from pool.map(function, batch)


_SIZE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_size(text: str) -> int:
    """'64MB' → 64_000_000, '1GiB' → 2**30, '5000' → 5000 bytes."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
    if not match or match.group(2).lower() not in _SIZE_UNITS:
        raise UserError(f"size '{text}' is not understood; write e.g. 64MB, 500KB, 1GiB or a number of bytes")
    size = int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
    if size <= 0:
        raise UserError(f"size '{text}' must be positive")
    return size
