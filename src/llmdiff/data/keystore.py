"""A string → string map on disk (SQLite), so duplicate checks and merges stay flat in memory.

A Python set of every caption or hash seen would grow with the dataset; SQLite keeps a bounded page cache
and spills the rest to a temporary file that is deleted on close.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path


class KeyStore:
    def __init__(self, folder: str | os.PathLike | None = None, commit_every: int = 10_000):
        handle, self._path = tempfile.mkstemp(prefix=".llmdiff-keys.", suffix=".sqlite", dir=folder)
        os.close(handle)
        self._db = sqlite3.connect(self._path)
        # A scratch database: durability is pointless, speed matters.
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE entries (key TEXT PRIMARY KEY, value TEXT)")
        self._pending = 0
        self._commit_every = commit_every

    def add(self, key: str, value: str = "") -> str | None:
        """Store `key` if new and return None; if already present return its earlier value, unchanged."""
        cursor = self._db.execute("INSERT OR IGNORE INTO entries VALUES (?, ?)", (key, value))
        if cursor.rowcount == 0:
            return self.get(key)
        self._tick()
        return None

    def put(self, key: str, value: str) -> None:
        """Store or overwrite."""
        self._db.execute("INSERT OR REPLACE INTO entries VALUES (?, ?)", (key, value))
        self._tick()

    def get_many(self, keys: list[str]) -> dict[str, str]:
        """The stored values of those `keys` that are present, in one query."""
        marks = ",".join("?" * len(keys))
        return dict(self._db.execute(f"SELECT key, value FROM entries WHERE key IN ({marks})", keys).fetchall())

    def put_many(self, items: dict[str, str]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?)", items.items())
        self._tick()

    def get(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def __contains__(self, key: str) -> bool:
        return self._db.execute("SELECT 1 FROM entries WHERE key = ?", (key,)).fetchone() is not None

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0]

    def _tick(self) -> None:
        self._pending += 1
        if self._pending >= self._commit_every:
            self._db.commit()
            self._pending = 0

    def close(self) -> None:
        self._db.close()
        Path(self._path).unlink(missing_ok=True)

    def __enter__(self) -> "KeyStore":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
