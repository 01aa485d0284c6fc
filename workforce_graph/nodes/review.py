"""Plan review: a person approves, edits or rejects each plan before any worker runs.

Built into the graph with ``build_workforce_graph(approve_plan=True)``; the node sits
between the planner and the coordinator and pauses the run with LangGraph's
``interrupt``. The run needs a checkpointer (LangGraph Studio supplies one).

The interrupt's value is ``{"kind": "plan_review", "task": ..., "subtasks": [...],
"done": [...], "capabilities": [...], "error": None}``. Resume with
``graph.ainvoke(Command(resume=answer), config)`` where ``answer`` is one of:

* ``{"action": "approve"}``: run the plan as it is;
* ``{"action": "edit", "subtasks": [...]}``: run this plan instead (same shape as the
  presented subtasks); it is validated like a planner's plan;
* ``{"action": "reject", "feedback": "..."}``: plan again, with the feedback (and the
  rejected plan) shown to the planner.

A resume value that is not one of these, or an edited plan that is invalid, does not
fail the run: the node pauses again with the same plan and ``error`` saying what was
wrong, so the reviewer (a person in Studio, or code) simply answers again.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from workforce_graph.conversation import request_of
from workforce_graph.deps import NodeDeps
from workforce_graph.events import emit
from workforce_graph.lifecycle import (
    PlannedSubtask,
    PlanValidationError,
    Subtask,
    pending_subtask,
    validate_plan,
)
from workforce_graph.state import WorkforceState

__all__ = [
    "ApprovePlan",
    "EditPlan",
    "PlanReviewAnswer",
    "RejectPlan",
    "make_plan_review",
    "parse_review_answer",
]

_CHECKPOINTER_KEY = "__pregel_checkpointer"
"""Where LangGraph puts the run's checkpointer in ``config["configurable"]``."""

_USAGE = (
    'answer {"action": "approve"}, {"action": "edit", "subtasks": [...]} '
    'or {"action": "reject", "feedback": "..."}'
)


class ApprovePlan(BaseModel):
    """Run the presented plan unchanged."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["approve"]


class EditPlan(BaseModel):
    """Run this plan instead of the presented one."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["edit"]
    subtasks: list[PlannedSubtask]


class RejectPlan(BaseModel):
    """Plan again; the feedback goes to the planner."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    action: Literal["reject"]
    feedback: str = Field(min_length=1)


PlanReviewAnswer = Annotated[ApprovePlan | EditPlan | RejectPlan, Field(discriminator="action")]
_ANSWER: TypeAdapter[ApprovePlan | EditPlan | RejectPlan] = TypeAdapter(PlanReviewAnswer)
_ANSWER_SCHEMA = _ANSWER.json_schema()
"""Shown to clients with the interrupt so they can render a form; the node validates."""


def parse_review_answer(value: Any) -> ApprovePlan | EditPlan | RejectPlan:
    """Validate a resume value given to a paused plan review.

    Args:
        value: What the reviewer passed as ``Command(resume=...)``.

    Returns:
        The validated answer.

    Raises:
        ValueError: One line per problem, and the accepted shapes.

    Example:
        >>> parse_review_answer({"action": "reject", "feedback": "fewer steps"}).feedback
        'fewer steps'
    """
    try:
        return _ANSWER.validate_python(value)
    except ValidationError as exc:
        problems = "; ".join(
            (".".join(str(part) for part in error["loc"]) + ": " if error["loc"] else "")
            + error["msg"]
            for error in exc.errors()
        )
        raise ValueError(
            f"invalid plan review answer {_brief(value)} ({problems}); {_USAGE}"
        ) from None


def make_plan_review(deps: NodeDeps) -> Any:
    """Build the ``review_plan`` node (see the module docs for the protocol).

    Args:
        deps: The graph's workers, models and budgets.

    Returns:
        An async node returning a ``Command`` to ``coordinator`` or ``planner``.
    """

    async def review_plan(
        state: WorkforceState, config: RunnableConfig, runtime: Runtime[Any]
    ) -> Command[Literal["coordinator", "planner"]]:
        # Everything before interrupt() re-runs on every resume, so it only reads state.
        if config.get("configurable", {}).get(_CHECKPOINTER_KEY) is None:
            raise ValueError(
                "plan review (approve_plan=True) pauses the run, which needs a checkpointer: "
                "compile the graph with checkpointer=InMemorySaver() or a persistent saver"
            )
        subtasks = list(state.get("subtasks", []))
        kept = [s for s in subtasks if s["status"] == "done"]
        pending = [s for s in subtasks if s["status"] != "done"]
        settings = deps.settings_for(runtime.context)
        offered = deps.registry.offered_capabilities()
        request = {
            "kind": "plan_review",
            "task": request_of(state),
            "subtasks": [_planned(s) for s in pending],
            "done": [_planned(s) for s in kept],
            "capabilities": sorted(offered),
            "error": None,
        }
        while True:
            # Each retry is a further interrupt in the same node; LangGraph replays the
            # earlier answers in order on resume, so this loop is deterministic.
            try:
                answer = parse_review_answer(interrupt(request, response_schema=_ANSWER_SCHEMA))
                if isinstance(answer, ApprovePlan):
                    return Command(goto="coordinator")
                if isinstance(answer, RejectPlan):
                    feedback = f"{answer.feedback}\nThe rejected plan was: " + json.dumps(
                        request["subtasks"]
                    )
                    return Command(
                        goto="planner", update={"plan_feedback": feedback, "subtasks": kept}
                    )
                validate_plan(
                    answer.subtasks,
                    offered_capabilities=offered,
                    done_ids={s["id"] for s in kept},
                    max_subtasks=settings.max_subtasks,
                )
            except PlanValidationError as exc:
                request = {**request, "error": f"the edited plan is invalid: {exc}"}
                continue
            except ValueError as exc:
                request = {**request, "error": str(exc)}
                continue
            edited = kept + [pending_subtask(p) for p in answer.subtasks]
            emit(
                "plan",
                subtasks=[
                    {k: s[k] for k in ("id", "description", "depends_on", "status")} for s in edited
                ],
                replans=state.get("replans", 0),
                reviewed=True,
                source="review",
            )
            return Command(goto="coordinator", update={"subtasks": edited})

    return review_plan


def _planned(subtask: Subtask) -> dict[str, Any]:
    return {
        "id": subtask["id"],
        "description": subtask["description"],
        "capabilities": list(subtask["capabilities"]),
        "depends_on": list(subtask["depends_on"]),
    }


def _brief(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
