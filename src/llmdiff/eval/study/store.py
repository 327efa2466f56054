"""Votes in SQLite: one row per submitted page, with the order the two images were shown in.

A connection per call keeps the store safe to use from the server's request threads.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from llmdiff.errors import UserError

QUESTIONS = {
    "appeal": "Which image is more visually appealing?",
    "faithfulness": "Which image follows the text more faithfully?",
}
ANSWERS = ("A", "tie", "B")  # in terms of the study's folders, not of the screen
SIDES = ("A", "B")

SCHEMA = """
CREATE TABLE IF NOT EXISTS study (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pair TEXT NOT NULL,
    category TEXT,
    left_system TEXT NOT NULL CHECK (left_system IN ('A', 'B')),
    appeal TEXT NOT NULL CHECK (appeal IN ('A', 'tie', 'B')),
    faithfulness TEXT NOT NULL CHECK (faithfulness IN ('A', 'tie', 'B')),
    rater TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Vote:
    pair: str
    category: str | None
    left_system: str
    """which folder's image was shown on the left: 'A' or 'B'"""
    answers: dict[str, str]
    """question -> 'A', 'tie' or 'B'"""
    rater: str = ""


class VoteStore:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise UserError(f"folder of the study database '{self.path.parent}' does not exist")
        with closing(self._connect()) as db:
            db.executescript(SCHEMA)

    @classmethod
    def existing(cls, path: str | os.PathLike) -> "VoteStore":
        if not Path(path).is_file():
            raise UserError(f"study database '{path}' does not exist; votes are collected with `llmdiff study serve`")
        return cls(path)

    def _connect(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(self.path, timeout=10)
        except sqlite3.Error as error:
            raise UserError(f"cannot open study database '{self.path}': {error}") from None

    def bind(self, settings: dict[str, str]) -> None:
        """Record the study's folders; a database made for other folders is refused, not mixed."""
        with closing(self._connect()) as db, db:
            saved = dict(db.execute("SELECT key, value FROM study"))
            clash = {k: (saved[k], v) for k, v in settings.items() if k in saved and saved[k] != v}
            if clash:
                detail = "; ".join(f"{k}: was '{old}', now '{new}'" for k, (old, new) in clash.items())
                raise UserError(f"study database '{self.path}' belongs to another study ({detail}); use another --db")
            db.executemany("INSERT OR IGNORE INTO study VALUES (?, ?)", settings.items())

    def settings(self) -> dict[str, str]:
        with closing(self._connect()) as db:
            return dict(db.execute("SELECT key, value FROM study"))

    def add(self, vote: Vote) -> None:
        if vote.left_system not in SIDES or set(vote.answers) != set(QUESTIONS) or any(
            a not in ANSWERS for a in vote.answers.values()
        ):
            raise UserError(f"malformed vote: {vote}")
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO votes (pair, category, left_system, appeal, faithfulness, rater, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (vote.pair, vote.category, vote.left_system, vote.answers["appeal"], vote.answers["faithfulness"],
                 vote.rater, datetime.now(timezone.utc).isoformat(timespec="seconds")),
            )

    def votes(self) -> list[Vote]:
        with closing(self._connect()) as db:
            rows = db.execute("SELECT pair, category, left_system, appeal, faithfulness, rater FROM votes ORDER BY id")
            return [Vote(p, c, l, {"appeal": a, "faithfulness": f}, r) for p, c, l, a, f, r in rows]

    def counts_by_pair(self) -> dict[str, int]:
        with closing(self._connect()) as db:
            return dict(db.execute("SELECT pair, COUNT(*) FROM votes GROUP BY pair"))
