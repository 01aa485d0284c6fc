"""An in-process model's blocking token iterator, consumed from async code.

A model computed in this process (llama.cpp, transformers) produces its tokens in a
blocking loop that holds the model's lock. :func:`iterate_in_thread` runs that whole
loop in one worker thread and hands each item to the event loop as it comes, so the
loop is never blocked, the lock is taken and released by the same thread, and a
consumer that stops early (a cancelled run) ends the loop at its next token.
:func:`last_chunk` closes a streamed reply with the whole reply's usage and metadata.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk

__all__ = ["iterate_in_thread", "last_chunk"]

T = TypeVar("T")

_END = object()


async def iterate_in_thread(make: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
    """Yield what ``make()``'s iterator yields, the iterator run in a worker thread.

    Args:
        make: Builds the blocking iterator (called in the worker thread).

    Yields:
        Its items, in order; an exception it raises is raised here.

    Example:
        >>> async def main() -> list[int]:
        ...     return [i async for i in iterate_in_thread(lambda: iter(range(3)))]
        >>> asyncio.run(main())
        [0, 1, 2]
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    stop = threading.Event()

    def put(item: object) -> None:
        # The loop may be closed by the time a last item comes: nobody waits for it.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def produce() -> None:
        try:
            iterator = make()
            try:
                for item in iterator:
                    put(item)
                    if stop.is_set():
                        break
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()  # releases the model's lock at once
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)
        finally:
            put(_END)

    worker = threading.Thread(target=produce, name="workforce-model-stream", daemon=True)
    worker.start()
    try:
        while (item := await queue.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()


def last_chunk(
    message: BaseMessage, generation_info: dict[str, Any] | None = None
) -> ChatGenerationChunk:
    """The chunk that ends a streamed reply: no text, the whole reply's usage and
    metadata (finish reason, model, token ids), so the chunks add up to the message
    the unstreamed call returns. Only this chunk carries metadata: LangChain joins
    the chunks' metadata by concatenating strings."""
    return ChatGenerationChunk(
        message=AIMessageChunk(
            content="",
            usage_metadata=getattr(message, "usage_metadata", None),
            response_metadata=message.response_metadata,
            chunk_position="last",
        ),
        generation_info=generation_info,
    )
