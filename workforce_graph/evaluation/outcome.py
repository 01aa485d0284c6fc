"""How a run ended, as the evaluation counts it: every task is in the denominator and
every way of not answering is a wrong answer of a named kind."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workforce_graph.failures import BUDGET_KINDS
from workforce_graph.trajectory.format import FailureKind

__all__ = ["FAILURE_KINDS", "EvalFailure", "run_failure"]

EvalFailure = FailureKind
"""A failure kind of the evaluation: the trajectory format's."""

FAILURE_KINDS: tuple[EvalFailure, ...] = (
    "no_plan",
    "plan_fallback",
    "worker_failure",
    "timeout",
    "budget",
    "crash",
    "wrong_answer",
)

_BUDGET_STOPS = {"max_turns", "time", "budget"}


def run_failure(final: Mapping[str, Any] | None, crash: str | None) -> FailureKind | None:
    """Why a run did not produce a complete answer, or ``None`` when it did.

    ``crash`` is ``"timeout"`` for the per-task time limit, else the exception text.
    A run that stopped on a budget (turns, time, tool calls) is ``budget``: the flow's
    typed ``stop``, or a ``failed`` entry of the answer whose ``kind`` is a budget's; one
    whose answer says subtasks failed is ``worker_failure``; one that ended without a plan
    (the one-subtask fallback turned off) is ``no_plan``. Scoring decides between right,
    ``plan_fallback`` and ``wrong_answer`` only when this is ``None``.
    """
    if crash is not None:
        return "timeout" if crash == "timeout" else "crash"
    if final is None:
        return "crash"
    answer = final.get("answer")
    if final.get("error"):
        return "no_plan"
    if str(final.get("stop") or "") in _BUDGET_STOPS:  # the flow's turns or time ran out
        return "budget"
    if not isinstance(answer, Mapping):
        return "crash"
    if not answer.get("complete", False):
        failed = [f for f in answer.get("failed") or [] if isinstance(f, Mapping)]
        return "budget" if any(map(_budget_stop, failed)) else "worker_failure"
    return None


def _budget_stop(part: Mapping[str, Any]) -> bool:
    """Whether a ``failed`` entry of the answer is a budget that ran out."""
    if "kind" in part:
        return part["kind"] in BUDGET_KINDS
    # For old records only: answers written before entries had a kind said it in words.
    return "budget" in str(part.get("reason", ""))
