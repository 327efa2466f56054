"""Small helpers shared by the data commands: chunked streaming and size parsing (atomic outputs and
batching live in `llmdiff.files`, re-exported here)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from llmdiff.errors import UserError
from llmdiff.files import atomic_output, batched  # noqa: F401 - part of this module's API

T = TypeVar("T")
R = TypeVar("R")


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
