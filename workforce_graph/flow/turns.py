"""Pure transitions of a flow run: where a run starts, when its turns end, what the
generator is given.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage

from workforce_graph.flow.memory import cut
from workforce_graph.flow.state import Decision, FlowState, StopKind
from workforce_graph.state import Subtask, WorkforceState

__all__ = [
    "conversation_before",
    "decide_after_turn",
    "fresh_run",
    "generator_view",
    "request_of",
    "text_of",
]

_HISTORY_MESSAGES = 4
_HISTORY_CHARS = 500


def text_of(content: str | list[Any]) -> str:
    """A message's text: the string, or the text of its content blocks."""
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        else:
            parts.append(json.dumps(block, ensure_ascii=False))
    return "\n".join(parts)


def request_of(state: FlowState) -> str:
    """This run's request: a human message just added to the thread, else ``task``.

    On a finished thread the old ``task`` is still in state; a new human message is
    the new request.
    """
    messages = state.get("messages") or []
    if messages and isinstance(messages[-1], HumanMessage):
        return text_of(messages[-1].content)
    return str(state.get("task") or "")


def conversation_before(messages: Sequence[AnyMessage]) -> str:
    """Brief earlier turns of the conversation (for a follow-up request), or ``""``."""
    earlier = list(messages)
    if earlier and isinstance(earlier[-1], HumanMessage):
        earlier.pop()
    lines = []
    for message in earlier[-_HISTORY_MESSAGES:]:
        who = (
            "User"
            if isinstance(message, HumanMessage)
            else "Assistant"
            if isinstance(message, AIMessage)
            else None
        )
        if who:
            lines.append(f"{who}: {cut(text_of(message.content), _HISTORY_CHARS)}")
    return "\n".join(lines)


def fresh_run(state: FlowState) -> dict[str, Any]:
    """The update that starts a run: the request, an empty memory, fresh budgets.

    A new request on a thread whose last run finished is a new run; the thread's
    messages are kept (the earlier turns become ``history``).
    """
    return {
        "task": request_of(state),
        "history": conversation_before(state.get("messages") or []),
        "analysis": None,
        "memory": [],
        "step": None,
        "turn": 0,
        "elapsed_s": 0.0,
        "stop": None,
        "stop_reason": None,
        "answer": None,
        "error": None,
    }


def decide_after_turn(
    decision: Decision, *, turn: int, max_turns: int, elapsed_s: float, max_run_s: float
) -> tuple[StopKind | None, str | None]:
    """Whether the turns end after this one, and why (``None`` when a budget did not end them)."""
    if decision == "stop":
        return "verifier", None
    if turn >= max_turns:
        return "max_turns", (
            f"the turn budget ran out ({max_turns} turns) before the verifier said STOP"
        )
    if elapsed_s >= max_run_s:
        return "time", (
            f"the time budget ran out ({max_run_s:g} s of {elapsed_s:.1f} s spent) "
            "before the verifier said STOP"
        )
    return None, None


def generator_view(state: FlowState) -> WorkforceState:
    """The flow's outcome as the shared generator reads it.

    Each finished turn is a finished result; a budget that ended the turns (or turns
    that produced nothing) is an unfinished item whose reason the answer states.
    """
    results = [
        Subtask(
            id=f"t{r['turn']}",
            description=r["sub_goal"],
            capabilities=[],
            depends_on=[],
            worker=r["worker"],
            status="done",
            result=r["result"],
            failure_reason=None,
            attempts=1,
        )
        for r in state.get("memory") or []
        if r["status"] == "done"
    ]
    stop, reason = state.get("stop"), state.get("stop_reason")
    if not state.get("error") and not results and not reason:
        stop, reason = stop or "verifier", "no turn produced a result"
    if reason:
        results.append(
            Subtask(
                id=str(stop or "stop"),
                description="the turns",
                capabilities=[],
                depends_on=[],
                worker=None,
                status="failed",
                result=None,
                failure_reason=reason,
                attempts=0,
            )
        )
    return WorkforceState(
        messages=list(state.get("messages") or []),
        task=str(state.get("task") or ""),
        answer_format=state.get("answer_format"),
        subtasks=results,
        error=state.get("error"),
    )
