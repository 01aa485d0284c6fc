"""Token accounting per role and per worker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage
from typing_extensions import TypedDict

__all__ = ["Usage", "UsageMeter", "add_usage"]


class Usage(TypedDict):
    calls: int
    input_tokens: int
    output_tokens: int


def add_usage(left: dict[str, Usage] | None, right: dict[str, Usage] | None) -> dict[str, Usage]:
    """Reducer summing token usage per key (``planner``, ``worker:web``, ...)."""
    merged: dict[str, Usage] = {k: Usage(**v) for k, v in (left or {}).items()}
    for key, usage in (right or {}).items():
        base = merged.get(key, Usage(calls=0, input_tokens=0, output_tokens=0))
        merged[key] = Usage(
            calls=base["calls"] + usage["calls"],
            input_tokens=base["input_tokens"] + usage["input_tokens"],
            output_tokens=base["output_tokens"] + usage["output_tokens"],
        )
    return merged


@dataclass
class UsageMeter:
    """Counts model calls and tokens for one key (``planner``, ``worker:web``, ...)."""

    key: str
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def record(self, message: BaseMessage) -> None:
        self.calls += 1
        usage = getattr(message, "usage_metadata", None) or {}
        self.input_tokens += int(usage.get("input_tokens", 0) or 0)
        self.output_tokens += int(usage.get("output_tokens", 0) or 0)

    def record_completion(self, completion: Any) -> None:
        """Count a call whose reply the client rejected (``LengthFinishReasonError``
        carries the raw OpenAI completion): the server answered, so it counts."""
        self.calls += 1
        usage = getattr(completion, "usage", None)
        self.input_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
        self.output_tokens += int(getattr(usage, "completion_tokens", 0) or 0)

    def as_update(self) -> dict[str, Usage]:
        """The state update for the ``usage`` channel (empty when nothing was called)."""
        if not self.calls:
            return {}
        return {
            self.key: Usage(
                calls=self.calls, input_tokens=self.input_tokens, output_tokens=self.output_tokens
            )
        }
