"""The answer's tokens as the model writes them, out of a graph's ``messages`` stream.

A graph of either topology streamed with ``stream_mode="messages"`` (sync ``stream``
or async ``astream``) yields ``(chunk, metadata)`` pairs for every model call of the
run: the planner's JSON, the workers' replies, the verifier's verdicts and the
answer. Each chunk's ``metadata`` carries the call's role under ``workforce_role``
(see :mod:`workforce_graph.calls.roles`); the answer is the ``generator``'s. Models
computed in this process stream too: the local model and ``gguf:`` ones token by
token, ``hf:`` ones as the tokenizer decodes each piece.

:func:`answer_tokens` and :func:`aanswer_tokens` keep only the answer's text.

What the chunks add up to is the model's reply. The final ``answer["text"]`` is that
reply as the generator keeps it (an echoed ``[s1]`` result label removed) plus the
notes it writes itself (an incomplete answer's list of what did not finish,
unverified results); when the reply is cut off by the token limit, the generator asks
once more for a shorter one, whose chunks follow under a new message ``id``. The
final answer stays the one to keep.

Example:
    >>> for token in answer_tokens(graph.stream(inputs, config, stream_mode="messages")):
    ...     print(token, end="", flush=True)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from typing import Any

from langchain_core.messages import AIMessageChunk

__all__ = [
    "ANSWER_ROLE",
    "ROLE_KEY",
    "aanswer_tokens",
    "answer_chunk",
    "answer_tokens",
]

ROLE_KEY = "workforce_role"
"""The metadata key naming a model call's role (``planner``, ``worker``, ...)."""
ANSWER_ROLE = "generator"
"""The role whose chunks are the answer, in both topologies."""


def answer_chunk(item: Any) -> AIMessageChunk | None:
    """The answer's chunk in one item of a messages stream, else ``None``.

    Args:
        item: What ``stream``/``astream`` yields: ``(chunk, metadata)`` with
            ``stream_mode="messages"``, or ``("messages", (chunk, metadata))`` with a
            list of modes. Items of other modes give ``None``.

    Returns:
        The chunk, when the model call it belongs to is the generator's and it is a
        streamed piece of the reply (the node's finished message is not).

    Example:
        >>> from langchain_core.messages import AIMessageChunk
        >>> answer_chunk((AIMessageChunk("Hi"), {"workforce_role": "generator"})).content
        'Hi'
        >>> answer_chunk((AIMessageChunk("{"), {"workforce_role": "planner"})) is None
        True
    """
    if isinstance(item, tuple) and len(item) == 2 and item[0] == "messages":
        item = item[1]
    if not (isinstance(item, tuple) and len(item) == 2):
        return None
    message, metadata = item
    if not isinstance(message, AIMessageChunk) or not isinstance(metadata, Mapping):
        return None
    return message if metadata.get(ROLE_KEY) == ANSWER_ROLE else None


def _text(chunk: AIMessageChunk) -> str:
    return str(chunk.text)  # the text blocks of a provider's content-block list too


def answer_tokens(stream: Iterable[Any]) -> Iterator[str]:
    """The answer's text pieces, in order, from a graph's sync messages stream.

    Args:
        stream: ``graph.stream(inputs, config, stream_mode="messages")`` (or with a
            list of modes including ``"messages"``; other items are skipped).

    Yields:
        Each non-empty piece of the answer as the model writes it.

    Example:
        >>> from langchain_core.messages import AIMessageChunk
        >>> items = [(AIMessageChunk('{"subtasks"'), {"workforce_role": "planner"}),
        ...          (AIMessageChunk("Paris"), {"workforce_role": "generator"}),
        ...          (AIMessageChunk("."), {"workforce_role": "generator"})]
        >>> "".join(answer_tokens(items))
        'Paris.'
    """
    for item in stream:
        chunk = answer_chunk(item)
        if chunk is not None and (text := _text(chunk)):
            yield text


async def aanswer_tokens(stream: AsyncIterable[Any]) -> AsyncIterator[str]:
    """:func:`answer_tokens` for ``graph.astream(..., stream_mode="messages")``.

    Yields:
        Each non-empty piece of the answer as the model writes it.

    Example:
        >>> async for token in aanswer_tokens(
        ...         graph.astream(inputs, config, stream_mode="messages")):
        ...     print(token, end="", flush=True)  # doctest: +SKIP
    """
    async for item in stream:
        chunk = answer_chunk(item)
        if chunk is not None and (text := _text(chunk)):
            yield text
