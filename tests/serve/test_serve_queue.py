"""The queue alone: one call at a time, a bounded line, deadlines, cancellation, shutdown."""

import threading
import time

import pytest

from llmdiff.serve.queue import GenerationQueue, QueueFull, RequestTimedOut, ServerClosing


def steps(count: int, seconds: float = 0.02):
    """Work that takes `count` steps and checks for cancellation after each, like the pipeline does."""

    def work(job):
        job.steps_total = count
        for _ in range(count):
            time.sleep(seconds)
            job.steps_done += 1
            job.check()
        return job.steps_done

    return work


def test_runs_one_at_a_time_in_order():
    queue = GenerationQueue(max_waiting=3)
    running, most, order = [0], [0], []
    lock = threading.Lock()

    def work(name):
        def run(job):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.02)
            order.append(name)
            with lock:
                running[0] -= 1
            return name

        return run

    jobs = [queue.submit(work(name), timeout_s=5) for name in "abcd"]
    assert [queue.wait(job) for job in jobs] == list("abcd")
    assert order == list("abcd") and most[0] == 1


def test_full_line_is_refused_at_once_with_a_retry_hint():
    queue = GenerationQueue(max_waiting=2, initial_estimate_s=3)
    jobs = [queue.submit(steps(10), timeout_s=5) for _ in range(3)]  # one runs, two wait
    started = time.monotonic()
    with pytest.raises(QueueFull) as refused:
        queue.submit(steps(1), timeout_s=5)
    assert time.monotonic() - started < 0.1
    assert refused.value.retry_after_s >= 3
    for job in jobs:
        queue.wait(job)
    assert queue.wait(queue.submit(steps(1), timeout_s=5)) == 1  # room again once the line drained


def test_running_job_is_stopped_at_its_deadline_and_the_worker_lives_on():
    queue = GenerationQueue(max_waiting=1)
    slow = queue.submit(steps(1000), timeout_s=0.2)
    started = time.monotonic()
    with pytest.raises(RequestTimedOut, match="within 0.2 s"):
        queue.wait(slow)
    assert time.monotonic() - started < 1.0
    assert slow.steps_done < 100
    assert queue.wait(queue.submit(steps(2), timeout_s=5)) == 2


def test_job_that_expired_while_waiting_never_runs():
    queue = GenerationQueue(max_waiting=1)
    first = queue.submit(steps(15), timeout_s=5)
    ran = []
    late = queue.submit(lambda job: ran.append(1), timeout_s=0.05)
    queue.wait(first)
    with pytest.raises(RequestTimedOut):
        queue.wait(late)
    assert ran == []


def test_errors_reach_the_caller():
    queue = GenerationQueue(max_waiting=1)

    def broken(job):
        raise ValueError("bad prompt")

    with pytest.raises(ValueError, match="bad prompt"):
        queue.wait(queue.submit(broken, timeout_s=5))
    assert queue.wait(queue.submit(steps(1), timeout_s=5)) == 1


def test_progress_is_reported_while_waiting():
    queue = GenerationQueue(max_waiting=1)
    seen = []
    queue.wait(queue.submit(steps(10), timeout_s=5), on_poll=lambda job: seen.append(job.progress), poll_s=0.03)
    assert seen and seen == sorted(seen) and 0 <= seen[0] and seen[-1] <= 1


def test_close_refuses_new_work_and_fails_waiting_jobs():
    queue = GenerationQueue(max_waiting=2)
    running = queue.submit(steps(1000), timeout_s=30)
    waiting = queue.submit(steps(1), timeout_s=30)
    time.sleep(0.05)
    queue.close()
    with pytest.raises(ServerClosing):
        queue.wait(waiting)
    with pytest.raises(RequestTimedOut):  # stopped at its next step, not run to the end
        queue.wait(running)
    with pytest.raises(ServerClosing):
        queue.submit(steps(1), timeout_s=5)


def test_cancelled_jobs_leave_the_line_at_once_and_the_running_one_stops():
    queue = GenerationQueue(max_waiting=3)
    running = queue.submit(steps(1000), timeout_s=30)
    waiting = [queue.submit(steps(1), timeout_s=30) for _ in range(3)]
    assert wait_for(lambda: queue.busy and queue.waiting == 3)
    for job in waiting:
        job.cancel()
    assert queue.waiting == 0 and all(job.future.cancelled() for job in waiting)  # at once, not when reached
    running.cancel()
    with pytest.raises(RequestTimedOut):
        queue.wait(running)
    assert running.steps_done < 100
    assert wait_for(lambda: not queue.busy)
    assert queue.wait(queue.submit(steps(2), timeout_s=5)) == 2


def wait_for(condition, seconds: float = 2.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()
