"""The graph state: typed, JSON-friendly, and readable by any process.

Everything here is plain dicts, lists, strings and numbers (plus LangChain messages,
which LangGraph's serializer knows), so checkpoints load under
``LANGGRAPH_STRICT_MSGPACK=true`` and can be inspected from another process.
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from workforce_graph.calls.usage import Usage, add_usage
from workforce_graph.failures import FailedPart
from workforce_graph.lifecycle import FailedPlan, Subtask, SubtaskStatus, Verdict

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
]


class Answer(TypedDict):
    text: str
    complete: bool
    failed: list[FailedPart]
    """``{"id", "reason", "kind"}`` for each part that did not finish (see ``failures``)."""


class WorkforceInput(TypedDict, total=False):
    """What a caller passes: ``{"task": "..."}`` or ``{"messages": [...]}``, and
    optionally a ``plan`` to run instead of planning (with ``variables`` for its
    placeholders; see :mod:`workforce_graph.plan_template`)."""

    task: str
    messages: Annotated[list[AnyMessage], add_messages]
    attachments: list[str]
    answer_format: str | None
    plan: dict[str, Any] | None
    variables: dict[str, str] | None


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
    stop_reason: str | None


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
    plan: NotRequired[dict[str, Any] | None]
    """A plan given with the request, run instead of the planner's first plan; the
    planner consumes it (sets it to ``None``), so replans and later runs plan anew."""
    variables: NotRequired[dict[str, str] | None]
    """Values for the given plan's ``{placeholders}``."""
    elapsed_s: NotRequired[float]
    """Seconds this run's nodes have spent, for ``max_run_s`` (a resume goes on from it)."""
    stop_reason: NotRequired[str | None]
    """Why the run stopped before its work was done (the time budget ran out)."""
    server_errors: NotRequired[int]
    """Model calls in a row that failed with a server error (see ``calls.errors``)."""
