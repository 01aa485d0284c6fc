"""The synchronous API (``invoke``, ``stream``) of a graph whose nodes are async.

The workers node schedules subtasks as LangGraph ``@task`` calls awaited on one event
loop, which LangGraph's synchronous runner cannot drive (it runs tasks on a thread
pool, a handful of threads on a small machine). So ``stream`` (and ``invoke``, which
LangGraph builds on ``stream``) runs the very same ``astream`` on a private event loop
in a helper thread and hands its chunks over one by one: the same behaviour, events
and checkpoints as the async API. The checkpointer must offer the async methods
(``InMemorySaver``, ``AsyncSqliteSaver``, ``AsyncPostgresSaver``).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph

__all__ = ["SyncCompatibleGraph", "WorkforceStateGraph", "iterate_async"]

T = TypeVar("T")


def iterate_async(chunks: AsyncIterator[T]) -> Iterator[T]:
    """Iterate an async iterator from synchronous code, on a private loop and thread.

    A thread of its own keeps this working where the caller already runs an event loop
    (a notebook); the caller's context variables (tracing, LangGraph's config) go along.
    Closing the iterator early closes the async one too.
    """
    loop = asyncio.new_event_loop()
    context = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="workforce-sync") as thread:

        def step(awaitable: Any) -> Any:
            return thread.submit(context.run, loop.run_until_complete, awaitable).result()

        try:
            while True:
                try:
                    item = step(anext(chunks))
                except StopAsyncIteration:
                    return
                yield item
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                step(aclose())
            step(loop.shutdown_asyncgens())
            thread.submit(loop.close).result()


class SyncCompatibleGraph(CompiledStateGraph[Any, Any, Any, Any]):
    """A compiled Workforce graph whose ``stream`` and ``invoke`` run ``astream``."""

    def stream(self, input: Any, config: Any = None, **kwargs: Any) -> Iterator[Any]:
        return iterate_async(self.astream(input, config, **kwargs))


class WorkforceStateGraph(StateGraph[Any, Any, Any, Any]):
    """A ``StateGraph`` whose compiled graphs also offer the synchronous API."""

    def compile(self, *args: Any, **kwargs: Any) -> CompiledStateGraph[Any, Any, Any, Any]:
        compiled = super().compile(*args, **kwargs)
        # The compiled graph is built inside StateGraph.compile; only its class changes.
        compiled.__class__ = SyncCompatibleGraph
        return compiled
