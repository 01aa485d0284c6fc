"""Nodes that serve both ``invoke`` and ``ainvoke``.

The nodes are written once, as coroutines (workers, tools and model clients are
async). For the sync API each coroutine runs on one background event loop, shared by
the process: async HTTP clients that model packages cache stay on the loop they were
made on, and a sync ``invoke`` works even where the calling thread already runs a loop
(a notebook). The caller's context variables (LangGraph's config and stream writer) go
with the coroutine.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig

# LangGraph's own node wrapper: the one public way to give a node both a sync and an
# async function is a runnable, and LangChain's RunnableLambda traces every node as a
# child run and inspects signatures on each call (about 1 ms a node); this is what
# ``StateGraph.add_node`` itself wraps functions in.
from langgraph._internal._runnable import RunnableCallable

__all__ = ["dual_node", "run_sync"]

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(
                target=loop.run_forever, name="workforce-graph-sync", daemon=True
            ).start()
            _loop = loop
        return _loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on the background loop, in the caller's context."""
    loop = _background_loop()
    context = contextvars.copy_context()
    done: concurrent.futures.Future[T] = concurrent.futures.Future()

    def start() -> None:
        task = loop.create_task(coro, context=context)

        def settle(finished: asyncio.Task[T]) -> None:
            if finished.cancelled():
                done.cancel()
            elif (exc := finished.exception()) is not None:
                done.set_exception(exc)
            else:
                done.set_result(finished.result())

        task.add_done_callback(settle)

    loop.call_soon_threadsafe(start)
    return done.result()


def dual_node(
    name: str, afunc: Callable[[Any, RunnableConfig], Awaitable[dict[str, Any]]]
) -> RunnableCallable:
    """A graph node running ``afunc(state, config)`` under ``ainvoke`` and ``invoke`` alike."""

    def func(state: Any, config: RunnableConfig) -> dict[str, Any]:
        return run_sync(_awaited(afunc(state, config)))

    return RunnableCallable(func, afunc, name=name, trace=False)


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable
