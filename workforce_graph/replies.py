"""What a model's reply says about itself: its text, and whether it was cut off.

Providers mark a reply stopped by the token limit differently (OpenAI and llama.cpp
``finish_reason="length"``, Anthropic ``stop_reason="max_tokens"``); such a reply is not
a finished result, whatever its text looks like.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage

__all__ = ["BREVITY_REQUEST", "CUT_OFF", "reply_text", "was_cut_off"]

CUT_OFF = "the reply was cut off by the token limit"
BREVITY_REQUEST = (
    "Your previous reply was cut off by the token limit. Reply again, complete and much "
    "shorter: the essentials only."
)
_CUT_REASONS = {"length", "max_tokens", "max_output_tokens"}


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
