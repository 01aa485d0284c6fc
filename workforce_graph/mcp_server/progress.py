"""Progress events as MCP progress notifications: one per event, its message worded
as ``workforce-graph run`` words its plain progress lines."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from workforce_graph.cli.render import PlainView, short

__all__ = ["MESSAGE_CHARS", "ProgressMessages"]

MESSAGE_CHARS = 300
"""The longest message a notification carries (a plan lists every subtask)."""


class _Lines(PlainView):
    """The plain view's lines, kept instead of written."""

    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.lines: list[str] = []

    def _line(self, text: str) -> None:
        self.lines.append(text.strip())


class ProgressMessages:
    """The message of each progress event of one run, in order.

    Example:
        >>> messages = ProgressMessages()
        >>> messages.message({"event": "started", "subtask_id": "s1", "worker": "web"})
        's1 started (web)'
    """

    def __init__(self) -> None:
        self._view = _Lines()

    def message(self, event: Mapping[str, Any]) -> str:
        """One line saying what happened."""
        self._view.lines.clear()
        self._view.event(event)
        return short("; ".join(self._view.lines), MESSAGE_CHARS) or str(event.get("event"))
