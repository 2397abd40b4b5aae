"""The background mode both library queues share: a worker thread that sleeps until woken.

:class:`~photoscribe.core.library.queue.CaptionQueue` and
:class:`~photoscribe.core.library.embed_queue.EmbedQueue` each do their work in ``run_once``
(callable in the foreground too); this base gives them the same thread, pause, wake and stop.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class BackgroundWorker:
    """Runs :meth:`background_run` on a thread of its own whenever :meth:`wake` says there may be work.

    Args:
        thread_name: the worker thread's name (seen in logs and debuggers).
        poll_s: also look without being woken this often; ``None``: only when woken.
    """

    def __init__(self, thread_name: str, poll_s: float | None = None) -> None:
        self.thread_name = thread_name
        self.poll_s = poll_s
        self._cond = threading.Condition()
        self._run_lock = threading.Lock()  # one run at a time (worker thread or caller)
        self._stop = threading.Event()
        self._paused = False
        self._woken = False
        self._thread: threading.Thread | None = None

    def background_run(self) -> None:
        """One run on the worker thread (``run_once`` with the stop event as its cancel, and a log line)."""
        raise NotImplementedError

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def running(self) -> bool:
        """The worker thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def pause(self) -> None:
        """Stop after the batch in hand until :meth:`resume`."""
        with self._cond:
            self._paused = True
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def wake(self) -> None:
        """There may be new work: let the worker thread look (cheap; call it freely)."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def start(self) -> None:
        """Start the worker thread: it does what is pending now, then sleeps until :meth:`wake`."""
        if self.running:
            return
        self._stop.clear()
        with self._cond:
            self._woken = True
        self._thread = threading.Thread(target=self._work, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 60.0) -> bool:
        """Stop the worker thread after the batch in hand is stored, and join it.

        Only the worker thread stops; a foreground ``run_once`` is stopped by its ``cancel`` event.
        Returns whether the thread ended within ``timeout`` (it is a daemon: it ends with its batch).
        """
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning("%s did not stop within %s s", self.thread_name, timeout)
                return False
        return True

    def _work(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                self._cond.wait_for(
                    lambda: self._stop.is_set() or (self._woken and not self._paused), timeout=self.poll_s
                )
                if self._stop.is_set():
                    return
                if self._paused:
                    continue
                self._woken = False
            try:
                self.background_run()
            except Exception:  # keep the worker alive: the failure is logged with its traceback
                log.exception("%s: a run failed; retrying when woken again", self.thread_name)
