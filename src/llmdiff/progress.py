"""Progress for long loops: a tqdm bar on a terminal, plain lines anywhere else.

A bar is redrawn with \\r, which in a log file or a job's captured output is one unreadable line. Off a
terminal the same calls print a line now and then ("eval shapes: 320/1000 img, 1 min 02 s, 5.2 img/s") and a
summary at the end.
"""

from __future__ import annotations

import sys
import time


def progress_bar(total: int | None, desc: str, unit: str = "it", disable: bool = False, interval: float = 30.0):
    """A tqdm bar when stderr is a terminal, else a `LineProgress`; either is a context manager with
    `update(n)` and `write(text)`."""
    if sys.stderr.isatty():
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit=unit, disable=disable, dynamic_ncols=True)
    return LineProgress(total, desc, unit, disable=disable, interval=interval)


def format_duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {rest:02d} s"
    return f"{seconds:.1f} s"


class LineProgress:
    """What a bar says, as a line on stderr every `interval` seconds and once at the end."""

    def __init__(self, total: int | None, desc: str, unit: str = "it", disable: bool = False,
                 interval: float = 30.0):
        self.total, self.desc, self.unit = total, desc, unit
        self.disable = disable
        self.interval = interval
        self.n = 0
        self.started = self.last_line = time.perf_counter()
        self.closed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.perf_counter()
        if not self.disable and now - self.last_line >= self.interval and (self.total is None or self.n < self.total):
            self._line(now)

    def write(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if not self.disable and self.n:
            self._line(time.perf_counter(), done=True)

    def _line(self, now: float, done: bool = False) -> None:
        self.last_line = now
        elapsed = now - self.started
        rate = self.n / elapsed if elapsed > 0 else 0.0
        count = f"{self.n} {self.unit}" if done or self.total is None else f"{self.n}/{self.total} {self.unit}"
        print(f"{self.desc}: {count} in {format_duration(elapsed)} ({rate:.1f} {self.unit}/s)",
              file=sys.stderr, flush=True)

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
