"""Ctrl-C and SIGTERM for long-running commands: SIGTERM stops them as Ctrl-C does, and fast."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import NoReturn


def exit_now(code: int) -> NoReturn:
    """End the process now, without the interpreter's teardown (for a command stopped by a signal).

    Call it once the command has stopped its threads (or given up waiting for them) and closed
    its files. Tearing torch down takes about a second, and a worker still busy (a captioning
    batch, a read of a hung drive) would hold the exit up or make it abort inside torch; a busy
    worker's open transaction is rolled back by SQLite (nothing half-written stays) and its decode
    processes end with this one.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@contextlib.contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    """Make SIGTERM raise ``KeyboardInterrupt`` in the main thread, as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """Ctrl-C and SIGTERM do nothing inside (the main thread is already stopping)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
