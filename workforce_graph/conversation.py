"""The request of a run and the conversation around it, from the graph state.

A thread is a conversation: a new request on a thread whose last run finished starts a
new run (fresh plan, fresh budgets) while the messages stay, so a follow-up ("now the
same for 2025") can refer to the earlier answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage

from workforce_graph.bounds import check_request
from workforce_graph.prompts import brief

__all__ = [
    "earlier_conversation",
    "message_text",
    "request_message",
    "request_of",
    "starts_new_run",
]

HISTORY_MESSAGES = 6
"""Earlier messages shown to the planner and generator (the most recent ones)."""
HISTORY_CHARS = 1_000


def message_text(content: str | list[Any]) -> str:
    """A message's text: the string, or the text of its content blocks."""
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "\n".join(parts)


def starts_new_run(state: Any) -> bool:
    """Whether the state is a finished run's, so a request now begins a new run."""
    return state.get("answer") is not None


def request_of(state: Any) -> str:
    """The request text of the current run.

    On a thread whose last run finished, a human message after its answer is the new
    request, else ``task`` (given with the new input). Otherwise ``task``, else the last
    human message.

    Raises:
        RequestTooLong: The request is longer than ``bounds.REQUEST_CHARS`` (a
            ``ValueError``): it would be copied whole into every prompt of the run.
    """
    request = _request_text(state)
    check_request(
        request,
        hint="attach the text as a file instead (the 'attachments' input; --file in the CLI)",
    )
    return request


def _request_text(state: Any) -> str:
    messages: Sequence[AnyMessage] = state.get("messages", [])
    if starts_new_run(state):
        last_answer = max(
            (i for i, m in enumerate(messages) if isinstance(m, AIMessage)), default=-1
        )
        newer = [m for m in messages[last_answer + 1 :] if isinstance(m, HumanMessage)]
        if newer:
            return message_text(newer[-1].content)
        return str(state.get("task") or "")
    if state.get("task"):
        return str(state["task"])
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message_text(message.content)
    return ""


def request_message(messages: Sequence[BaseMessage], request: str) -> list[HumanMessage]:
    """The request as a human message when the conversation lacks it (``task`` input)."""
    last_human = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
    if not request.strip() or (
        last_human is not None and message_text(last_human.content) == request
    ):
        return []
    return [HumanMessage(request)]


def earlier_conversation(messages: Sequence[BaseMessage], request: str) -> str:
    """The conversation before the current request, brief, for a prompt ("" if none)."""
    history = [m for m in messages if isinstance(m, HumanMessage | AIMessage)]
    while history and isinstance(history[-1], HumanMessage):
        if message_text(history[-1].content) != request:
            break
        history.pop()
    if not any(isinstance(m, AIMessage) for m in history):
        return ""
    lines = []
    for message in history[-HISTORY_MESSAGES:]:
        speaker = "user" if isinstance(message, HumanMessage) else "assistant"
        lines.append(f"{speaker}: {brief(message_text(message.content), HISTORY_CHARS)}")
    return "\n".join(lines)
