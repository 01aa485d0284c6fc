"""An ``hf:`` model's reply streamed as transformers decodes it.

``generate`` blocks until the reply is done, so it runs in a thread of its own and
hands its text to a ``TextIteratorStreamer``, which the caller iterates meanwhile:
each piece the tokenizer decodes becomes one chunk, and a last chunk carries the whole
reply's usage and metadata (the same as the unstreamed call's).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk, ChatResult

from workforce_graph.models.thread_stream import last_chunk

__all__ = ["stream_generate"]


def stream_generate(
    tokenizer: Any, generate: Callable[[Any], ChatResult]
) -> Iterator[ChatGenerationChunk]:
    """The chunks of one reply.

    Args:
        tokenizer: The model's tokenizer, which decodes the pieces.
        generate: Makes the reply, passing the streamer it is given to ``generate``.

    Yields:
        A chunk per decoded piece, then the last chunk (no text: usage, metadata).

    Raises:
        Whatever ``generate`` raised, in the caller's thread.
    """
    from transformers import TextIteratorStreamer

    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    outcome: list[ChatResult | BaseException] = []

    def run() -> None:
        try:
            outcome.append(generate(streamer))
        except BaseException as exc:  # raised below, in the caller's thread
            outcome.append(exc)
            streamer.end()  # type: ignore[no-untyped-call]  # unblocks the loop below

    worker = threading.Thread(target=run, name="workforce-hf-stream", daemon=True)
    worker.start()
    for piece in streamer:
        if piece:
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
    worker.join()
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    whole = result.generations[0]
    yield last_chunk(whole.message, whole.generation_info)
