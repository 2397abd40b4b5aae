"""The command line's plumbing: arguments as bytes, output encodings, closed pipes and SIGTERM.

Every command runs through :func:`run_command`, so none of them has to think about:

* **arguments that are not UTF-8.** Python keeps such bytes as lone surrogates. A path given
  with ``type=Path`` goes to the file system as the very bytes typed (``os.fsencode``); text
  and library names (the library stores UTF-8) get one sentence naming the argument
  (:func:`reject_undecodable`, :func:`library_path`, :func:`text_arg`).
* **output encodings.** Human text goes out through the ``photoscribe-print`` error handler: a
  file name's raw bytes as those bytes (as ``ls`` prints them), characters the encoding lacks as
  ``\\x``/``\\u`` escapes. JSON goes through :func:`dumps_json`, which escapes to ASCII whenever
  stdout is not UTF-8 (or a value holds raw bytes), so it always parses.
* **a closed pipe** (``photoscribe caption --json DIR | head``): the command stops quietly with
  exit code 141, as a Unix tool killed by SIGPIPE does.
* **SIGTERM**: raised in the main thread as :class:`Terminated`, a ``KeyboardInterrupt``, so it
  unwinds exactly as Ctrl-C does (temporary files removed, "cancelled" said) and exits 143.
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import select
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from photoscribe.core.paths import printable

PRINT_ERRORS = "photoscribe-print"
EXIT_PIPE_CLOSED = 128 + signal.SIGPIPE if hasattr(signal, "SIGPIPE") else 1  # 141, as `yes | head`
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143


def _print_errors(exc: UnicodeError) -> tuple[str | bytes, int]:
    """Encoding error handler: surrogate-escaped bytes go out as those bytes, other characters the
    output encoding cannot carry as backslash escapes."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    chunk = exc.object[exc.start : exc.end]
    if all(0xDC80 <= ord(c) <= 0xDCFF for c in chunk):
        return bytes(ord(c) - 0xDC00 for c in chunk), exc.end
    return chunk.encode("ascii", "backslashreplace").decode("ascii"), exc.end


codecs.register_error(PRINT_ERRORS, _print_errors)


# --------------------------------------------------------------------------- output


def configure_streams() -> None:
    """Never a traceback for printing: stdout and stderr use the ``photoscribe-print`` handler."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors=PRINT_ERRORS)


def stdout_is_unicode() -> bool:
    """Whether stdout's encoding carries every character (UTF-8, -16 or -32)."""
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        return codecs.lookup(encoding).name.startswith("utf")
    except LookupError:
        return False


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def dumps_json(value: Any, **options: Any) -> str:
    """``json.dumps`` whose output is valid JSON on this stdout whatever its encoding.

    Characters stay as they are on a UTF-8 stdout; on any other (``PYTHONIOENCODING=ascii``, a
    C locale), or when a string holds a file name's raw bytes, they are ``\\uXXXX`` escapes.
    """
    options.pop("ensure_ascii", None)
    text = json.dumps(value, ensure_ascii=False, **options)
    if stdout_is_unicode() and not _has_surrogates(text):
        return text
    return json.dumps(value, ensure_ascii=True, **options)


def print_json(value: Any, **options: Any) -> None:
    """Print ``value`` as JSON that parses, whatever stdout's encoding (see :func:`dumps_json`)."""
    print(dumps_json(value, **options))


# --------------------------------------------------------------------------- argument types


def undecodable(text: str) -> bool:
    """Whether a command-line string holds bytes that are not UTF-8 (kept as lone surrogates)."""
    return _has_surrogates(text)


def text_arg(value: str) -> str:
    """An argparse type for text that is stored (a caption, a keyword): it must be UTF-8."""
    if undecodable(value):
        raise argparse.ArgumentTypeError(_not_utf8(value))
    return value


def path_arg(value: str) -> Path:
    """An argparse type for a file or folder: any bytes the file system accepts, but not empty."""
    if not value:
        raise argparse.ArgumentTypeError("an empty path; give a file or folder")
    return Path(value)


def library_path(value: str) -> Path:
    """An argparse type for a file or folder that is (or is to be) in the library.

    The library stores names as UTF-8, so a name with other bytes cannot be in it: that is said
    here in one sentence rather than failing later in SQLite.
    """
    path = path_arg(value)
    if undecodable(value):
        raise argparse.ArgumentTypeError(_not_utf8(value))
    return path


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    return _bounded_int(text, 1)


def non_negative_int(text: str) -> int:
    """An argparse type: an integer of at least 0."""
    return _bounded_int(text, 0)


def _bounded_int(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{printable(text)!r} is not a whole number") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
    return value


def _not_utf8(value: str) -> str:
    shown = printable(value.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace"))
    if os.path.lexists(value):
        return (
            f"{shown} is named with bytes that are not UTF-8, and the library stores names as UTF-8; "
            "rename it (for example with convmv) to use it here"
        )
    return f"{shown} is not valid UTF-8 text; type it again in a UTF-8 terminal"


def _chosen_actions(
    parser: argparse.ArgumentParser, values: dict[str, Any]
) -> Iterator[tuple[argparse.ArgumentParser, argparse.Action]]:
    """The arguments of ``parser`` and of the subcommands chosen on this command line."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(values.get(action.dest) or "")
            subs = [chosen] if chosen is not None else list(dict.fromkeys(action.choices.values()))
            for sub in subs:
                yield from _chosen_actions(sub, values)
        else:
            yield parser, action


def reject_undecodable(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exit with argparse's usage error (code 2) when a text argument is not UTF-8.

    Arguments parsed as ``Path`` are file-system paths and may hold any bytes; every other string
    (a query, a caption, a photo's path in the library, a language tag) is text that is searched
    for or stored as UTF-8.
    """
    values = vars(args)
    for owner, action in _chosen_actions(parser, values):
        value = values.get(action.dest)
        items = value if isinstance(value, list) else [value]
        bad = next((v for v in items if isinstance(v, str) and undecodable(v)), None)
        if bad is not None:
            name = "/".join(action.option_strings) or action.metavar or action.dest
            owner.error(f"argument {name}: {_not_utf8(bad)}")


# --------------------------------------------------------------------------- signals and pipes


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that it unwinds as Ctrl-C does."""


class _Signals:
    """Which stop signal arrived (SIGTERM sets ``terminated``)."""

    def __init__(self) -> None:
        self.terminated = False
        self.pid = os.getpid()

    def on_sigterm(self, signum: int, _frame: object) -> None:
        if os.getpid() != self.pid:  # a forked worker: die as SIGTERM means, quietly
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.terminated = True
        raise Terminated()


def _install_sigterm(state: _Signals) -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, state.on_sigterm)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def _silence_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null so the exit flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _stdout_closed() -> bool:
    """Whether stdout's reader has gone (a BrokenPipeError may also come from another pipe)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return True
    except (OSError, ValueError):
        return False
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _fd, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll() (Windows): it was stdout, most likely
        return True


def run_command(command: Callable[[], int], *, handle_sigterm: bool = True) -> int:
    """Run a command under the CLI's policies for SIGTERM and closed pipes; its exit code.

    SIGTERM unwinds as Ctrl-C does (each command's ``except KeyboardInterrupt`` says
    "cancelled"); its exit code is then 143 instead of 130. A closed stdout (``| head``) ends
    the command silently with 141.
    """
    state = _Signals()
    restore = _install_sigterm(state) if handle_sigterm else (lambda: None)
    try:
        code = command()
    except BrokenPipeError:
        if not _stdout_closed():
            raise
        _silence_stdout()
        return EXIT_PIPE_CLOSED
    except KeyboardInterrupt:
        print("photoscribe: cancelled", file=sys.stderr)
        code = EXIT_INTERRUPTED
    finally:
        restore()
    try:
        sys.stdout.flush()  # a pipe closed after the last write fails here, not at exit
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_PIPE_CLOSED
    except (OSError, ValueError):
        pass
    if code == EXIT_INTERRUPTED and state.terminated:
        return EXIT_TERMINATED
    return code
