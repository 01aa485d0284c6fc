"""Pure transitions of a flow run: where a run starts, when its turns end, what the
generator is given.
"""

from __future__ import annotations

from typing import Any

from workforce_graph.conversation import earlier_conversation, request_message, request_of
from workforce_graph.failures import FailureKind
from workforce_graph.flow.state import Decision, FlowState, StopKind
from workforce_graph.state import Subtask, WorkforceState

__all__ = ["STOP_KINDS", "decide_after_turn", "fresh_run", "generator_view"]

STOP_KINDS: dict[StopKind, FailureKind] = {
    "max_turns": "turn_budget",
    "time": "time_budget",
    "verifier": "no_result",
}
"""The failure kind of the answer's item when the turns ended with the work undone:
a budget ran out, or the verifier stopped turns that produced nothing."""


def fresh_run(state: FlowState) -> dict[str, Any]:
    """The update that starts a run: the request, an empty memory, fresh budgets.

    A new request on a thread whose last run finished is a new run; the thread's
    messages are kept (the earlier turns become ``history``).
    """
    request = request_of(state)
    return {
        "task": request,
        "messages": request_message(state.get("messages") or [], request),
        "history": earlier_conversation(state.get("messages") or [], request),
        "analysis": None,
        "past_runs": "",
        "memory": [],
        "step": None,
        "turn": 0,
        "elapsed_s": 0.0,
        "server_errors": 0,
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
                failure_kind=STOP_KINDS[stop or "verifier"],
            )
        )
    return WorkforceState(
        messages=list(state.get("messages") or []),
        task=str(state.get("task") or ""),
        answer_format=state.get("answer_format"),
        subtasks=results,
        error=state.get("error"),
    )
