"""Stopping a one-shot sync: Ctrl-C (SIGINT) and SIGTERM end it the same way, with one line saying so.

Why: a run cut short closes its job ("the run was interrupted") and gives its pair's lock up on the way out of
``KeyboardInterrupt``, which Python raises for SIGINT only. SIGTERM, what ``docker stop``, ``systemctl stop`` and
Kubernetes send, would end the process outright: the job left running and the pair locked until its lease ran
out. And a run that stops part-way should say so, and that running it again is safe: the engine records every
write before making it and finds its own copies again, so the next run finishes the work.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import typer

RERUN = "run again to finish (nothing is lost or duplicated)"


@contextmanager
def stoppable() -> Iterator[None]:
    """Run the body with SIGTERM raising ``KeyboardInterrupt`` as SIGINT does; on either, print one line on
    standard error and exit with status 128 + the signal's number (130, 143). The previous SIGTERM handler is
    back once the body is left. A second SIGTERM while the run closes its job is ignored: the first one already
    asked for the stop, and the closing is short.
    """
    received: list[int] = []

    def on_term(signum: int, _frame: FrameType | None) -> None:
        if not received:
            received.append(signum)
            raise KeyboardInterrupt

    previous = _install(on_term)
    try:
        yield
    except KeyboardInterrupt:
        signum = received[0] if received else signal.SIGINT
        name = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
        typer.echo(f"{name}: {RERUN}", err=True)
        raise typer.Exit(128 + signum) from None
    finally:
        if previous is not _NOT_INSTALLED:
            signal.signal(signal.SIGTERM, previous)


_NOT_INSTALLED = object()


def _install(handler: Any) -> Any:
    """Install ``handler`` for SIGTERM and return the one it replaces; only the main thread may (a command run
    from another thread, as some test runners do, keeps the process's handler)."""
    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:
        return _NOT_INSTALLED
