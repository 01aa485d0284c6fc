"""What a model's reply says about itself: its text, and whether it was cut off.

Providers mark a reply stopped by the token limit differently (OpenAI and llama.cpp
``finish_reason="length"``, Anthropic ``stop_reason="max_tokens"``); such a reply is not
a finished result, whatever its text looks like.

Small models also copy the instructions they were given into their replies ("Tools are
no longer available. Write the result..."); :func:`without_echoes` takes those
sentences out, so a rule the framework wrote does not reach a result or an answer.
Besides the texts a caller names, it always filters the texts registered with
:func:`register_instructions`: every worker's description, instructions and the text
describing its tools, which reach a worker's calls (and, through its result, the
generator's) without the caller writing them itself.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from langchain_core.messages import BaseMessage

__all__ = [
    "BREVITY_REQUEST",
    "CUT_OFF",
    "ECHO_MIN_CHARS",
    "ECHO_SHARE",
    "register_instructions",
    "registered_instructions",
    "reply_text",
    "was_cut_off",
    "without_echoes",
]

CUT_OFF = "the reply was cut off by the token limit"
BREVITY_REQUEST = (
    "Your previous reply was cut off by the token limit. Reply again, complete and much "
    "shorter: the essentials only."
)
_CUT_REASONS = {"length", "max_tokens", "max_output_tokens"}
ECHO_MIN_CHARS = 20
"""Shorter sentences of a reply are never taken for echoes: a short phrase can be content."""
ECHO_SHARE = 0.9
"""A reply sentence is an echo when runs of instruction text cover this share of it."""
_ECHO_RUN = 8
"""Shortest run of characters shared with the instructions that counts: shorter ones
("the ", " of ") are common to any two English texts."""
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def was_cut_off(message: Any) -> bool:
    """Whether the model stopped because it ran out of tokens."""
    if not isinstance(message, BaseMessage):
        return False
    meta = message.response_metadata or {}
    reason = meta.get("finish_reason") or meta.get("stop_reason")
    return str(reason).lower() in _CUT_REASONS


def reply_text(message: Any) -> str:
    """The text of a reply (content blocks joined), stripped."""
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content.strip()
    if isinstance(content, list):
        return "".join(
            part.get("text", "") if isinstance(part, dict) else str(part) for part in content
        ).strip()
    return str(content or "").strip()


@dataclass(frozen=True)
class _Source:
    """An instruction text as echoes are measured against it."""

    text: str
    """Lowercased, each run of whitespace one space: a model copies a list of lines
    ("- run_python: ...") into one line of its reply."""
    grams: frozenset[tuple[str, ...]]


def _source(text: str) -> _Source:
    normal = " ".join(text.lower().split())
    return _Source(normal, frozenset(_word_triples(normal)))


_registered: dict[str, _Source] = {}
_registered_lock = threading.Lock()


def register_instructions(*texts: str) -> None:
    """Add texts the framework writes into model calls to those every reply is cleaned of.

    :class:`~workforce_graph.workers.WorkerSpec` registers each worker's description,
    system prompt and the text describing its tools, so an echo of them is taken out
    by every :func:`without_echoes`: the worker's own and the generator's, whose input
    is the workers' results. Registering a text again changes nothing.
    """
    global _registered
    new = [t for t in texts if t.strip() and t not in _registered]
    if not new:
        return
    with _registered_lock:
        # Readers iterate over a copy taken without the lock: replace, never mutate.
        _registered = {**_registered, **{t: _source(t) for t in new}}


def registered_instructions() -> tuple[str, ...]:
    """The texts :func:`register_instructions` was given, in order."""
    return tuple(_registered)


def without_echoes(text: str, instructions: Iterable[str]) -> str:
    """``text`` without the sentences in which it repeats ``instructions``.

    A sentence is an echo when runs of at least 8 characters shared with the
    instructions cover 90% of it: copied word for word, or with a word respelled
    ("Synthesize" for "Synthesise"). Lines and their order are kept otherwise.

    Args:
        text: A model's reply.
        instructions: Texts the framework itself wrote into the call (rules, requests
            to answer again), never the user's request or a tool's output: those may
            rightly be quoted. The texts given to :func:`register_instructions` (the
            workers' descriptions, instructions and tool descriptions) are always
            added.

    Returns:
        The reply, stripped; empty when it was nothing but echoes.
    """
    sources = [_source(t) for t in instructions if t.strip()]
    sources.extend(_registered.values())
    if not any(s.grams for s in sources):
        return text.strip()
    lines: list[str] = []
    for line in text.splitlines():
        sentences = _SENTENCE_END.split(line)
        kept = [s for s in sentences if not _is_echo(s, sources)]
        if len(kept) == len(sentences):
            lines.append(line.rstrip())
        elif any(s.strip() for s in kept):
            lines.append(" ".join(s.strip() for s in kept if s.strip()))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _word_triples(text: str) -> set[tuple[str, ...]]:
    words = text.split()
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


_TRAILING_ELLIPSIS = re.compile(r"\s*(?:\.{3}|\u2026)$")
"""A model that stops copying partway often ends with an ellipsis, which says nothing."""


def _is_echo(sentence: str, sources: list[_Source]) -> bool:
    sentence = _TRAILING_ELLIPSIS.sub("", " ".join(sentence.lower().split()))
    if len(sentence) < ECHO_MIN_CHARS:
        return False
    # Only texts sharing three words in a row with it are compared, at a higher cost.
    grams = _word_triples(sentence)
    near = [s.text for s in sources if s.grams & grams]
    if not near:
        return False
    matcher = SequenceMatcher(None, sentence, "\n".join(near), autojunk=False)
    shared = sum(block.size for block in matcher.get_matching_blocks() if block.size >= _ECHO_RUN)
    return shared >= ECHO_SHARE * len(sentence)
