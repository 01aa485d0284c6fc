"""Verifier: the one join node that decides what happens after the workers.

Through :func:`workforce_graph.lifecycle.decide`, it retries a failed subtask the
workers round could not retry (bounded by ``max_retries``), dispatches what became ready,
replans when a subtask keeps failing (bounded by ``max_replans``), or finishes; once the
run's time (``max_run_s``, counted in state) is spent it finishes with what is done.
Workers never route anywhere themselves, so a failure among parallel siblings cannot
trigger the join twice. The optional per-result model check lives here too
(:func:`check_result`), called by the workers node as each result arrives.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from workforce_graph.bounds import REASON_CHARS, RESULT_CHARS, bound
from workforce_graph.calls.ask import CallFailure, ask
from workforce_graph.calls.errors import ServerErrorStreak
from workforce_graph.calls.structured import StructuredMethod
from workforce_graph.calls.usage import UsageMeter
from workforce_graph.deps import NodeDeps
from workforce_graph.events import emit
from workforce_graph.lifecycle import decide
from workforce_graph.prompts import render_subtask_prompt
from workforce_graph.state import WorkforceState
from workforce_graph.workers import SubtaskContext

__all__ = [
    "Check",
    "Verification",
    "check_result",
    "make_verifier",
    "route_after_verification",
]


class Check(BaseModel):
    ok: bool = Field(description="True when the result does what the subtask asks.")
    reason: str = Field(default="", description="Why not, when ok is false.")


class Verification(NamedTuple):
    """What the verifier model said about one result."""

    problem: str | None = None
    """Why the result does not do the subtask (``None``: it does, or it was not checked)."""
    skipped: str | None = None
    """Why the result could not be checked: the call failed or its reply was unusable."""


async def check_result(
    model: BaseChatModel,
    context: SubtaskContext,
    result: str,
    meter: UsageMeter,
    config: RunnableConfig | None = None,
    *,
    method: StructuredMethod = "auto",
    timeout_s: float | None = None,
    streak: ServerErrorStreak | None = None,
) -> Verification:
    """Ask the verifier model whether ``result`` does the subtask.

    A verifier that cannot be reached or answers unusably must not fail good work: the
    result stands, unchecked, and :attr:`Verification.skipped` says why (as the
    coordinator falls back to capability matching). Only a fatal error (see
    :func:`workforce_graph.calls.errors.is_fatal`) raises, as does a server that
    failed too many calls in a row, counted in ``streak``.
    """
    messages = [
        SystemMessage(
            "You check a worker's result. Say ok=false only if the result is wrong, "
            "empty, off-task or claims something it could not know."
        ),
        HumanMessage(
            f"{render_subtask_prompt(context)}\n\nWorker's result:\n" + bound(result, RESULT_CHARS)
        ),
    ]
    check = await ask(
        model,
        Check,
        messages,
        role="verifier",
        node="workers",
        config=config,
        meter=meter,
        streak=streak or ServerErrorStreak(),
        attempts=2,
        method=method,
        timeout_s=timeout_s,
        subtask_id=context["subtask_id"],
        announce=False,  # the workers node says it with ``verify_skipped``
    )
    if isinstance(check, CallFailure):
        if check.answered:
            return Verification(skipped=f"the verifier's reply was unusable: {check.reason}")
        return Verification(skipped=check.reason)
    if check.ok:
        return Verification()
    return Verification(
        problem=bound(check.reason or "the result does not do the subtask", REASON_CHARS)
    )


def make_verifier(deps: NodeDeps) -> Any:
    """Build the verifier node."""

    def verifier(state: WorkforceState, runtime: Runtime[Any]) -> dict[str, Any]:
        settings = deps.settings_for(runtime.context)
        subtasks = list(state.get("subtasks", []))
        if state.get("error") or not subtasks:
            return {"verdict": "finish"}
        replans = state.get("replans", 0)
        decision = decide(
            subtasks,
            replans=replans,
            max_retries=settings.max_retries,
            max_replans=settings.max_replans,
            elapsed_s=float(state.get("elapsed_s") or 0.0),
            max_run_s=settings.max_run_s,
        )
        for s in decision.retried:
            emit(
                "retry",
                subtask_id=s["id"],
                worker=s["worker"],
                attempt=s["attempts"] + 1,
                reason=s["failure_reason"],
            )
        update: dict[str, Any] = {"verdict": decision.verdict}
        if decision.retried or decision.stop_reason:
            update["subtasks"] = decision.subtasks
        if decision.stop_reason:
            emit("stopped", reason=decision.stop_reason)
            update["stop_reason"] = decision.stop_reason
        if decision.failed_plan is not None:
            emit("replan", replans=replans + 1, reasons=decision.failed_plan["reasons"])
            update["replans"] = replans + 1
            update["failed_plans"] = [*state.get("failed_plans", []), decision.failed_plan]
        return update

    return verifier


def route_after_verification(
    state: WorkforceState,
) -> Literal["coordinator", "planner", "generator"]:
    verdict = state.get("verdict", "finish")
    if verdict == "dispatch":
        return "coordinator"
    if verdict == "replan":
        return "planner"
    return "generator"
