"""One model call at a time, a bounded line of waiting requests, and a deadline for each.

The pipeline is shared and not thread-safe, and each call holds its activations in memory: a single
worker thread runs the calls in order. A request that finds the line full is refused at once (the
caller answers 429 with `Retry-After`) instead of piling up. A cancelled job (its deadline passed, or
its client left) leaves the line at once; a running one stops at its next `job.check()`, which the
generator calls before every module's forward pass, so the model is free within one module's time.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Callable

logger = logging.getLogger(__name__)

DEADLINE_GRACE_S = 5.0
"""How long past its deadline a caller waits for a running job to notice and stop."""


class QueueFull(Exception):
    def __init__(self, retry_after_s: int):
        super().__init__(f"the server is busy; retry in about {retry_after_s} s")
        self.retry_after_s = retry_after_s


class RequestTimedOut(Exception):
    def __init__(self, timeout_s: float, retry_after_s: int):
        super().__init__(f"the request did not finish within {timeout_s:g} s and was cancelled")
        self.retry_after_s = retry_after_s


class ServerClosing(Exception):
    pass


@dataclass
class Job:
    """A queued call; `work(job)` runs on the worker thread and may call `job.check()` between steps."""

    work: Callable[["Job"], object]
    deadline: float
    timeout_s: float
    future: Future = field(default_factory=Future)
    steps_done: int = 0
    steps_total: int = 0
    cancelled: threading.Event = field(default_factory=threading.Event)
    on_cancel: Callable[["Job"], None] | None = None
    """set by the queue: takes a waiting job out of the line"""

    def check(self) -> None:
        """Raise if the job should stop: called by the work as often as it can (every module's forward)."""
        if self.cancelled.is_set() or time.monotonic() > self.deadline:
            raise _Stop

    def cancel(self) -> None:
        """Stop the job: out of the line at once if still waiting, at its next check if running."""
        self.cancelled.set()
        if self.on_cancel is not None:
            self.on_cancel(self)

    @property
    def progress(self) -> float:
        return min(self.steps_done / self.steps_total, 1.0) if self.steps_total else 0.0


class _Stop(Exception):
    """Raised inside the work to abandon it; never leaves the worker."""


class GenerationQueue:
    def __init__(self, max_waiting: int, initial_estimate_s: float = 10.0):
        self.max_waiting = max_waiting
        self._waiting: collections.deque[Job] = collections.deque()
        self._condition = threading.Condition()
        self._running: Job | None = None
        self._closing = False
        # Running mean of call durations, for the retry hint; seeded until the first call ends.
        self._mean_s = initial_estimate_s
        self._worker = threading.Thread(target=self._work_loop, name="llmdiff-serve-model", daemon=True)
        self._worker.start()

    def submit(self, work: Callable[[Job], object], timeout_s: float) -> Job:
        """Queue `work`; raise `QueueFull` at once when the line is full."""
        job = Job(work=work, deadline=time.monotonic() + timeout_s, timeout_s=timeout_s, on_cancel=self._drop)
        with self._condition:
            if self._closing:
                raise ServerClosing("the server is shutting down")
            # Counted together, so the answer does not depend on whether the worker has picked a job up yet.
            outstanding = len(self._waiting) + (self._running is not None)
            if outstanding > self.max_waiting:
                raise QueueFull(self.retry_after_s(outstanding))
            self._waiting.append(job)
            self._condition.notify()
        return job

    def wait(self, job: Job, on_poll: Callable[[Job], None] | None = None, poll_s: float = 0.25) -> object:
        """Block until the job's result, calling `on_poll(job)` every `poll_s` (for progress displays).

        Raises `RequestTimedOut` once the deadline has passed, and the work's own exceptions.
        """
        while True:
            # Past the deadline the worker stops the job within one module; the grace covers that module.
            remaining = job.deadline + DEADLINE_GRACE_S - time.monotonic()
            if remaining <= 0:
                job.cancel()
                raise RequestTimedOut(job.timeout_s, self.retry_after_s(self.waiting + 1))
            try:
                return job.future.result(timeout=min(poll_s, remaining) if on_poll else remaining)
            except FutureTimeout:
                if on_poll:
                    on_poll(job)

    def _drop(self, job: Job) -> None:
        with self._condition:
            try:
                self._waiting.remove(job)
            except ValueError:
                return  # running or done: it stops at its next check
        job.future.cancel()

    def retry_after_s(self, position: int = 1) -> int:
        return max(1, math.ceil(self._mean_s * position))

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def busy(self) -> bool:
        return self._running is not None

    def close(self) -> None:
        """Refuse new work, cancel what waits, and let the running call stop at its next step."""
        with self._condition:
            self._closing = True
            pending = list(self._waiting)
            self._waiting.clear()
            if self._running is not None:
                self._running.cancel()
            self._condition.notify_all()
        for job in pending:
            job.future.set_exception(ServerClosing("the server is shutting down"))

    def _work_loop(self) -> None:
        while True:
            with self._condition:
                while not self._waiting and not self._closing:
                    self._condition.wait()
                if self._closing and not self._waiting:
                    return
                job = self._waiting.popleft()
                self._running = job
            try:
                self._run(job)
            finally:
                with self._condition:
                    self._running = None

    def _run(self, job: Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        try:
            job.check()  # may have expired while waiting: do not spend the model on it
            started = time.monotonic()
            result = job.work(job)
            elapsed = time.monotonic() - started
            self._mean_s = 0.7 * self._mean_s + 0.3 * elapsed
            job.future.set_result(result)
        except _Stop:
            job.future.set_exception(RequestTimedOut(job.timeout_s, self.retry_after_s(self.waiting + 1)))
        except BaseException as error:  # noqa: BLE001 - handed to the caller, the worker lives on
            logger.debug("generation failed", exc_info=True)
            job.future.set_exception(error)
