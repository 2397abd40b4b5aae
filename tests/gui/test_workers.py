"""A background job ends exactly one way: cancelled, failed or finished, told by one signal."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from PySide6.QtCore import QThreadPool

from photoscribe.core.errors import CancelledError
from photoscribe.core.progress import Progress, check_cancel
from photoscribe.desktop.workers import ImmediatePool, Job, JobRunner, JobState

WAIT_MS = 5000


def recorded(job: Job) -> list[str]:
    """The names of the final signals ``job`` emits, in order."""
    seen: list[str] = []
    job.signals.cancelled.connect(lambda: seen.append("cancelled"))
    job.signals.failed.connect(lambda *_: seen.append("failed"))
    job.signals.finished.connect(lambda *_: seen.append("finished"))
    return seen


@pytest.fixture
def pool() -> Any:
    pool = QThreadPool()
    yield pool
    pool.waitForDone(WAIT_MS)


def run_on(pool: QThreadPool, job: Job, qtbot: Any) -> list[str]:
    seen = recorded(job)
    pool.start(job)
    qtbot.waitUntil(lambda: bool(seen), timeout=WAIT_MS)
    assert pool.waitForDone(WAIT_MS)
    qtbot.wait(50)  # any second signal would have been delivered by now
    return seen


def waits_for_cancel(started: threading.Event, *, on_progress: Any, cancel: threading.Event) -> str:
    started.set()
    for _ in range(500):
        on_progress(Progress("test", 1, None))
        check_cancel(cancel)  # raises CancelledError once cancelled
        cancel.wait(0.01)
    return "ran to the end"


def test_a_job_cancelled_mid_run_emits_only_cancelled(qtbot, pool: QThreadPool) -> None:
    started = threading.Event()
    job = Job(waits_for_cancel, started)
    seen = recorded(job)
    pool.start(job)
    assert started.wait(WAIT_MS / 1000)
    assert job.state is JobState.RUNNING
    assert job.cancel()
    qtbot.waitUntil(lambda: bool(seen), timeout=WAIT_MS)
    assert pool.waitForDone(WAIT_MS)
    qtbot.wait(50)
    assert seen == ["cancelled"]
    assert job.state is JobState.CANCELLED


def test_a_job_that_stops_early_and_returns_what_it_did_emits_only_finished(qtbot, pool: QThreadPool) -> None:
    # Training and writing metadata honour cancel by returning a result that says so.
    started = threading.Event()

    def stops_early(*, on_progress: Any, cancel: threading.Event) -> str:
        started.set()
        cancel.wait(WAIT_MS / 1000)
        return "cancelled after 1 of 3"

    job = Job(stops_early)
    results: list[Any] = []
    job.signals.finished.connect(results.append)
    seen = recorded(job)
    pool.start(job)
    assert started.wait(WAIT_MS / 1000)
    job.cancel()
    qtbot.waitUntil(lambda: bool(seen), timeout=WAIT_MS)
    assert pool.waitForDone(WAIT_MS)
    qtbot.wait(50)
    assert seen == ["finished"]  # not "cancelled" and then "finished"
    assert results == ["cancelled after 1 of 3"]


def test_a_job_that_fails_emits_only_failed(qtbot, pool: QThreadPool) -> None:
    def fails(*, on_progress: Any, cancel: threading.Event) -> None:
        raise ValueError("the photo is not there")

    job = Job(fails)
    errors: list[BaseException] = []
    job.signals.failed.connect(lambda exc, _tb: errors.append(exc))
    assert run_on(pool, job, qtbot) == ["failed"]
    assert job.state is JobState.FAILED
    assert isinstance(errors[0], ValueError)


def test_a_job_that_fails_after_a_cancel_still_reports_the_failure_once(qtbot, pool: QThreadPool) -> None:
    started = threading.Event()

    def fails_when_cancelled(*, on_progress: Any, cancel: threading.Event) -> None:
        started.set()
        cancel.wait(WAIT_MS / 1000)
        raise OSError("disk full")

    job = Job(fails_when_cancelled)
    seen = recorded(job)
    pool.start(job)
    assert started.wait(WAIT_MS / 1000)
    job.cancel()
    qtbot.waitUntil(lambda: bool(seen), timeout=WAIT_MS)
    assert pool.waitForDone(WAIT_MS)
    qtbot.wait(50)
    assert seen == ["failed"]


def test_a_job_that_finishes_emits_only_finished(qtbot, pool: QThreadPool) -> None:
    job = Job(lambda *, on_progress, cancel: 42)
    results: list[Any] = []
    job.signals.finished.connect(results.append)
    assert run_on(pool, job, qtbot) == ["finished"]
    assert job.state is JobState.FINISHED
    assert results == [42]


def test_a_cancel_after_the_work_returned_but_before_the_signal_is_delivered_changes_nothing(
    qtbot, pool: QThreadPool
) -> None:
    job = Job(lambda *, on_progress, cancel: "done")
    seen = recorded(job)
    pool.start(job)
    assert pool.waitForDone(WAIT_MS)  # the function returned; its signal waits in the event queue
    assert seen == []
    assert job.cancel() is False  # too late: the work was done
    qtbot.waitUntil(lambda: bool(seen), timeout=WAIT_MS)
    qtbot.wait(50)
    assert seen == ["finished"]
    assert job.state is JobState.FINISHED


def test_a_job_cancelled_before_it_starts_emits_only_cancelled_and_runs_once(qtbot) -> None:
    calls: list[int] = []

    def counts(*, on_progress: Any, cancel: threading.Event) -> None:
        calls.append(1)
        check_cancel(cancel)

    job = Job(counts)
    seen = recorded(job)
    assert job.cancel()
    ImmediatePool().start(job)
    assert seen == ["cancelled"] and calls == [1]
    job.run()  # a job runs once
    assert seen == ["cancelled"] and calls == [1]
    assert job.cancel() is False


def test_the_runner_forgets_a_job_once_it_has_ended(qtbot) -> None:
    runner = JobRunner(ImmediatePool())
    calls: list[str] = []

    def cancelled(*, on_progress: Any, cancel: threading.Event) -> None:
        raise CancelledError("cancelled by the user")

    runner.submit(
        Job(cancelled),
        on_cancelled=lambda: calls.append("cancelled"),
        on_finished=lambda _r: calls.append("finished"),
        on_failed=lambda *_: calls.append("failed"),
    )
    qtbot.wait(10)
    assert calls == ["cancelled"]
    assert not runner.busy
