"""The graph state: typed, JSON-friendly, and readable by any process.

Everything here is plain dicts, lists, strings and numbers (plus LangChain messages,
which LangGraph's serializer knows), so checkpoints load under
``LANGGRAPH_STRICT_MSGPACK=true`` and can be inspected from another process.
"""

from __future__ import annotations

from typing import Annotated, Literal, NotRequired

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

__all__ = [
    "Answer",
    "FailedPlan",
    "Subtask",
    "SubtaskStatus",
    "Usage",
    "Verdict",
    "WorkforceInput",
    "WorkforceOutput",
    "WorkforceState",
    "add_usage",
    "ready_subtasks",
]

SubtaskStatus = Literal["pending", "running", "done", "failed"]
Verdict = Literal["dispatch", "replan", "finish"]


class Subtask(TypedDict):
    """One node of the plan's DAG."""

    id: str
    description: str
    capabilities: list[str]
    depends_on: list[str]
    worker: str | None
    status: SubtaskStatus
    result: str | None
    failure_reason: str | None
    attempts: int


class FailedPlan(TypedDict):
    """A plan given up on, kept so the planner (and a trainer) can learn from it."""

    subtasks: list[Subtask]
    reasons: list[str]


class Answer(TypedDict):
    text: str
    complete: bool
    failed: list[dict[str, str]]
    """``{"id": ..., "reason": ...}`` for each subtask that did not finish."""


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


class WorkforceInput(TypedDict, total=False):
    """What a caller passes: ``{"task": "..."}`` or ``{"messages": [...]}``."""

    task: str
    messages: Annotated[list[AnyMessage], add_messages]
    attachments: list[str]
    answer_format: str | None


class WorkforceOutput(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    task: str
    subtasks: list[Subtask]
    answer: Answer | None
    replans: int
    failed_plans: list[FailedPlan]
    usage: Annotated[dict[str, Usage], add_usage]
    error: str | None
    plan_fallback: str | None


class WorkforceState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    task: NotRequired[str]
    attachments: NotRequired[list[str]]
    answer_format: NotRequired[str | None]
    subtasks: NotRequired[list[Subtask]]
    replans: NotRequired[int]
    failed_plans: NotRequired[list[FailedPlan]]
    verdict: NotRequired[Verdict]
    answer: NotRequired[Answer | None]
    usage: NotRequired[Annotated[dict[str, Usage], add_usage]]
    error: NotRequired[str | None]
    """Why the run could not plan at all (the answer says so too)."""
    plan_feedback: NotRequired[str | None]
    """A reviewer's feedback on a rejected plan, for the planner's next attempt."""
    plan_fallback: NotRequired[str | None]
    """Why the request runs as one subtask: no valid plan came (the answer says so)."""


def ready_subtasks(subtasks: list[Subtask]) -> list[Subtask]:
    """Pending subtasks whose dependencies are all done, in plan order."""
    done = {s["id"] for s in subtasks if s["status"] == "done"}
    return [
        s for s in subtasks if s["status"] == "pending" and all(d in done for d in s["depends_on"])
    ]
