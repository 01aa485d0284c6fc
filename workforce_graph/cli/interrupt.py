"""Clean stops: Ctrl-C (SIGINT) and SIGTERM end a run within moments, resumable.

A signal cancels the run's task. The run records itself as interrupted and prints the
resume command on the way out (``workforce-graph resume THREAD``), then the process
exits at once with 128 + the signal number (130, 143). It does not wait for executor
threads to drain: a local-model completion or a blocking tool running in a thread
cannot be cancelled and may take minutes, and its result would be discarded anyway.
Finished subtasks are already checkpointed, so ``resume`` does not redo them.

A second signal while the run is recording itself exits immediately.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

__all__ = ["STOP_SIGNALS", "run_interruptibly"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _exit_now(code: int) -> None:
    """Exit without joining threads (``os._exit``), output flushed first."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


async def _guarded(work: Coroutine[Any, Any, int]) -> int:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        if received:  # asked twice: stop recording the interruption too
            _exit_now(128 + received[0])
        received.append(signum)
        if task is not None:
            task.cancel()

    installed = []
    for signum in STOP_SIGNALS:
        # Not on every platform (Windows) nor outside the main thread; there the
        # default KeyboardInterrupt path still applies.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, on_signal, signum)
            installed.append(signum)
    try:
        return await work
    except asyncio.CancelledError:
        if received:
            _exit_now(128 + received[0])
        raise
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def run_interruptibly(work: Coroutine[Any, Any, int]) -> int:
    """``asyncio.run(work)``, where SIGINT and SIGTERM end it cleanly (see module docs).

    Args:
        work: The command's coroutine; it handles ``CancelledError`` to record the
            interruption, and re-raises it.

    Returns:
        The coroutine's exit code; on a signal the process exits from here instead.
    """
    return asyncio.run(_guarded(work))
