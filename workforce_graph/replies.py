"""What a model's reply says about itself: its text, and whether it was cut off.

Providers mark a reply stopped by the token limit differently (OpenAI and llama.cpp
``finish_reason="length"``, Anthropic ``stop_reason="max_tokens"``); such a reply is not
a finished result, whatever its text looks like.

Small models also copy the instructions they were given into their replies ("Tools are
no longer available. Write the result..."); :func:`without_echoes` takes those
sentences out, so a rule the framework wrote never reaches a result or an answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from langchain_core.messages import BaseMessage

__all__ = [
    "BREVITY_REQUEST",
    "CUT_OFF",
    "ECHO_MIN_CHARS",
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
ECHO_MIN_CHARS = 16
"""Shorter instruction sentences stay in a reply: a short phrase can be real content."""
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")


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


def without_echoes(text: str, instructions: Iterable[str]) -> str:
    """``text`` without the sentences of ``instructions`` that it repeats word for word.

    Args:
        text: A model's reply.
        instructions: Texts the framework itself wrote into the call (rules, requests
            to answer again), never the user's request or a tool's output: those may
            rightly be quoted.

    Returns:
        The reply, stripped; empty when it was nothing but echoes.
    """
    sentences = {
        sentence.strip()
        for instruction in instructions
        for sentence in _SENTENCE_BREAK.split(instruction)
        if len(sentence.strip()) >= ECHO_MIN_CHARS
    }
    found = [sentence for sentence in sentences if sentence in text]
    if not found:
        return text.strip()
    for sentence in sorted(found, key=len, reverse=True):
        text = text.replace(sentence, "")
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
