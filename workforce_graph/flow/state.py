"""The flow topology's state: the request, its analysis, the memory of turns, budgets.

Plain dicts, lists, strings and numbers (plus LangChain messages), like the Workforce
graph's state, so checkpoints load under ``LANGGRAPH_STRICT_MSGPACK=true``. The memory
belongs to one thread's state: two threads never share it, and a new request on a
finished thread starts with an empty one.
"""

from __future__ import annotations

from typing import Annotated, Literal, NotRequired

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from workforce_graph.state import Answer, Usage, WorkforceInput, add_usage

__all__ = [
    "Analysis",
    "Decision",
    "FlowInput",
    "FlowOutput",
    "FlowState",
    "MemoryRecord",
    "NextStep",
    "StopKind",
]

Decision = Literal["stop", "continue"]
StopKind = Literal["verifier", "max_turns", "time"]
"""Why the turns ended: the verifier said STOP, or a budget ran out."""

FlowInput = WorkforceInput
"""What a caller passes, as for the Workforce graph: ``{"task": ...}`` or messages."""


class Analysis(TypedDict):
    """The query analysis, made once per run."""

    needs: str
    """What the request needs done."""
    capabilities: list[str]
    """Capability tags relevant to it."""
    answer_form: str
    """The form the final answer should take."""


class NextStep(TypedDict):
    """The planner's choice for one turn, carried to the executor."""

    turn: int
    sub_goal: str
    worker: str
    context: str
    justification: str
    error: str | None
    """Why the planner produced no usable step (the turn then fails with it)."""


class MemoryRecord(TypedDict):
    """One turn as the memory keeps it."""

    turn: int
    sub_goal: str
    worker: str
    status: Literal["done", "failed"]
    tool_calls: int
    result: str
    """The worker's result, bounded (a note says where it was cut); empty when failed."""
    failure_reason: str | None
    verdict: Decision | None
    feedback: str | None
    """The verifier's reason, with any repeated failing action named."""
    seconds: float


class FlowOutput(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    task: str
    analysis: Analysis | None
    memory: list[MemoryRecord]
    turn: int
    stop: StopKind | None
    stop_reason: str | None
    answer: Answer | None
    usage: Annotated[dict[str, Usage], add_usage]
    error: str | None


class FlowState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    task: NotRequired[str]
    attachments: NotRequired[list[str]]
    answer_format: NotRequired[str | None]
    history: NotRequired[str]
    """Earlier turns of the conversation on this thread, brief, for follow-up requests."""
    analysis: NotRequired[Analysis | None]
    past_runs: NotRequired[str]
    """Similar past runs as the planner's prompt shows them (``""``: none), recalled once
    per run (see :mod:`workforce_graph.past_runs`)."""
    memory: NotRequired[list[MemoryRecord]]
    step: NotRequired[NextStep | None]
    turn: NotRequired[int]
    """Turns taken so far in this run."""
    elapsed_s: NotRequired[float]
    """Seconds spent in this run's nodes (survives a resume, unlike a start time)."""
    server_errors: NotRequired[int]
    """Model calls in a row that failed with a server error (see ``calls.errors``)."""
    stop: NotRequired[StopKind | None]
    stop_reason: NotRequired[str | None]
    answer: NotRequired[Answer | None]
    usage: NotRequired[Annotated[dict[str, Usage], add_usage]]
    error: NotRequired[str | None]
    """Why the run could not start (an empty request); the answer says so too."""
