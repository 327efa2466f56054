"""The layout of one evaluation run directory; every stage reads and writes through these names.

    RUN/prompts.jsonl            the frozen prompt selection (`llmdiff eval prompts`)
    RUN/images/ours/ID.png       our pipeline's image for prompt ID
    RUN/images/baseline/ID.png   the base model's stock pipeline, same seed
    RUN/stats.json, RUN/length_histogram.png
    RUN/metrics.json
    RUN/report.json, RUN/report.md, RUN/report.html
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from llmdiff.errors import UserError

SYSTEMS = ("ours", "baseline")


@dataclass(frozen=True)
class RunDir:
    root: Path

    @classmethod
    def existing(cls, root: str | os.PathLike) -> "RunDir":
        """A run directory that must already hold its prompt selection."""
        run = cls(Path(root))
        if not run.root.is_dir():
            raise UserError(f"run directory '{run.root}' does not exist; create it with `llmdiff eval prompts`")
        if not run.prompts.is_file():
            raise UserError(f"'{run.prompts}' is missing; create it with `llmdiff eval prompts SOURCE -o {run.root}`")
        return run

    @property
    def prompts(self) -> Path:
        return self.root / "prompts.jsonl"

    def images(self, system: str) -> Path:
        return self.root / "images" / system

    def image(self, system: str, prompt_id: str) -> Path:
        return self.images(system) / f"{prompt_id}.png"

    @property
    def stats(self) -> Path:
        return self.root / "stats.json"

    @property
    def histogram(self) -> Path:
        return self.root / "length_histogram.png"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    def report(self, suffix: str) -> Path:
        return self.root / f"report.{suffix}"
