"""Verifier: the one join node that decides what happens after the workers.

It retries a failed subtask (bounded by ``max_retries``), dispatches what became ready,
replans when a subtask keeps failing (bounded by ``max_replans``), or finishes. Workers
never route anywhere themselves, so a failure among parallel siblings cannot trigger
the join twice. The optional per-result model check lives here too
(:func:`check_result`), called by the workers node as each result arrives.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from workforce_graph.bounds import REASON_CHARS, RESULT_CHARS, bound
from workforce_graph.events import emit
from workforce_graph.nodes.deps import NodeDeps
from workforce_graph.state import FailedPlan, Subtask, WorkforceState, ready_subtasks
from workforce_graph.structured import StructuredOutputError, structured_call
from workforce_graph.usage import UsageMeter
from workforce_graph.worker_runtime import render_subtask_prompt
from workforce_graph.workers import SubtaskContext

__all__ = ["Check", "check_result", "make_verifier", "route_after_verification"]


class Check(BaseModel):
    ok: bool = Field(description="True when the result does what the subtask asks.")
    reason: str = Field(default="", description="Why not, when ok is false.")


async def check_result(
    model: BaseChatModel, context: SubtaskContext, result: str, meter: UsageMeter
) -> str | None:
    """Ask the verifier model whether ``result`` does the subtask; ``None`` when it does."""
    messages = [
        SystemMessage(
            "You check a worker's result. Say ok=false only if the result is wrong, "
            "empty, off-task or claims something it could not know."
        ),
        HumanMessage(
            f"{render_subtask_prompt(context)}\n\nWorker's result:\n" + bound(result, RESULT_CHARS)
        ),
    ]
    try:
        check = await structured_call(model, Check, messages, attempts=2, meter=meter)
    except StructuredOutputError:
        return None  # an unusable check must not fail good work
    return (
        None
        if check.ok
        else bound(check.reason or "the result does not do the subtask", REASON_CHARS)
    )


def make_verifier(deps: NodeDeps) -> Any:
    """Build the verifier node."""

    def verifier(state: WorkforceState, runtime: Runtime[Any]) -> dict[str, Any]:
        settings = deps.settings_for(runtime.context)
        subtasks = [Subtask(**s) for s in state.get("subtasks", [])]
        if state.get("error") or not subtasks:
            return {"verdict": "finish"}
        failed = [s for s in subtasks if s["status"] == "failed"]
        retried = False
        for s in failed:
            if s["attempts"] <= settings.max_retries:
                s["status"] = "pending"
                retried = True
                emit(
                    "retry",
                    subtask_id=s["id"],
                    worker=s["worker"],
                    attempt=s["attempts"] + 1,
                    reason=s["failure_reason"],
                )
        if retried:
            return {"subtasks": subtasks, "verdict": "dispatch"}
        replans = state.get("replans", 0)
        if failed and replans < settings.max_replans:
            reasons = [
                f"subtask {s['id']} ({s['worker']}) failed: {s['failure_reason']}" for s in failed
            ]
            emit("replan", replans=replans + 1, reasons=reasons)
            return {
                "verdict": "replan",
                "replans": replans + 1,
                "failed_plans": [
                    *state.get("failed_plans", []),
                    FailedPlan(subtasks=subtasks, reasons=reasons),
                ],
            }
        if not failed and ready_subtasks(subtasks):
            return {"verdict": "dispatch"}
        return {"verdict": "finish"}

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
