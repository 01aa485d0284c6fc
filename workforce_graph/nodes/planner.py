"""Planner: the request becomes a validated DAG of subtasks.

The planner sees exactly the workers' declarations. A model whose decoding follows the
schema (``constrained_decoding``, as the embedded model) decodes against a positional
schema that makes an invalid DAG impossible (see :mod:`workforce_graph.plan_schema`).
Any other model's output is validated (unique ids, known dependencies, no cycle,
offered capabilities, at least one subtask); an invalid plan goes back to the model
with the errors, for ``max_plan_attempts`` calls in all. If none is valid, the whole
request becomes one subtask for the most general worker (``plan_fallback``, on by
default), and the answer says it was produced without decomposition. When
replanning, finished subtasks are kept with their results and the model plans only the
remaining work, so done work is not redone. A request on a thread whose last run
finished starts a new run: fresh plan and budgets, the conversation kept.

A plan given with the request (``{"task": ..., "plan": ..., "variables": ...}``) is
filled, validated like a planned one and run instead of the first plan, with no model
call; an invalid one raises :class:`~workforce_graph.plan_template.GivenPlanError` (or
:class:`~workforce_graph.plan_template.PlanTemplateError`) before any worker runs. It
is consumed, so a replan asks the model (see :mod:`workforce_graph.plan_template`).

With a store and ``memory`` on, the prompt also shows the most similar past runs (see
:mod:`workforce_graph.past_runs`); with none, it is unchanged.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime
from langgraph.types import Overwrite

from workforce_graph.calls.ask import CallFailure
from workforce_graph.calls.errors import ServerErrorStreak
from workforce_graph.calls.usage import Usage, UsageMeter
from workforce_graph.conversation import (
    earlier_conversation,
    request_message,
    request_of,
    starts_new_run,
)
from workforce_graph.deps import NodeDeps, spent_s
from workforce_graph.events import emit
from workforce_graph.lifecycle import (
    PlannedSubtask,
    PlanValidationError,
    pending_subtask,
    validate_plan,
)
from workforce_graph.past_runs import recall
from workforce_graph.plan_schema import plan_schema, positional_plan_schema, positions_within
from workforce_graph.plan_template import given_plan
from workforce_graph.plugins import WorkerRegistry
from workforce_graph.prompts import brief, describe_workers
from workforce_graph.state import Subtask, WorkforceState

__all__ = [
    "GENERAL_CAPABILITIES",
    "fallback_plan",
    "make_planner",
    "no_plan_reason",
    "plan_schema",
]


SYSTEM = """You are the planner of a team of workers. Break the user's request into \
subtasks that the workers below can do, each self-contained (a worker sees only its \
subtask and the results of the subtasks it depends on). Make independent subtasks \
independent so they run in parallel; add depends_on only where a result is needed. A \
simple request is one subtask. Number the subtasks s1, s2, s3, ... in order; depends_on \
may only name earlier subtasks. Use only capability tags that the workers offer. \
Describe each subtask in the words of the user's request.

Workers:
{workers}
"""

EXAMPLE = """
Example of the reply's shape only (its wording is not part of any request). Request: \
"Find facts A and B, then compare them." Plan:
{example}"""

GENERAL_CAPABILITIES = ("general_knowledge", "reasoning", "writing")
"""Tags of a worker that can take any request as one subtask, most general first."""


def _example(tag: str) -> str:
    # One tag throughout: small models copy the example's tags into unrelated plans.
    first = last = tag
    return json.dumps(
        {
            "subtasks": [
                {
                    "id": "s1",
                    "description": "Find fact A.",
                    "capabilities": [first],
                    "depends_on": [],
                },
                {
                    "id": "s2",
                    "description": "Find fact B.",
                    "capabilities": [first],
                    "depends_on": [],
                },
                {
                    "id": "s3",
                    "description": "Compare facts A and B.",
                    "capabilities": [last],
                    "depends_on": ["s1", "s2"],
                },
            ]
        }
    )


def _prompt(
    state: WorkforceState,
    deps: NodeDeps,
    request: str,
    *,
    constrained: bool,
    past_runs: str = "",
) -> list[BaseMessage]:
    available = list(deps.registry.available.values())
    # Constrained decoding serves small local models, which copy examples (the workers'
    # and the reply's) into their plans in place of the request; it needs no example of
    # the reply's shape either. Larger models route better with the workers' examples.
    system = SYSTEM.format(workers=describe_workers(available, examples=not constrained))
    if not constrained:
        system += EXAMPLE.format(example=_example(available[0].capabilities[0]))
    parts = [f"Request:\n{request}"]
    history = earlier_conversation(state.get("messages", []), request)
    if history:
        parts.append(f"Earlier in this conversation (the request may refer to it):\n{history}")
    if state.get("attachments"):
        parts.append("Files given with the request: " + ", ".join(state.get("attachments", [])))
    if state.get("answer_format"):
        parts.append(f"The final answer must follow this format: {state.get('answer_format')}")
    if past_runs:
        parts.append(past_runs)
    done = [s for s in state.get("subtasks", []) if s["status"] == "done"]
    failed_plans = state.get("failed_plans", [])
    if failed_plans:
        last = failed_plans[-1]
        parts.append(
            "The previous plan failed:\n"
            + "\n".join(f"- {reason}" for reason in last["reasons"])
            + "\nPrevious plan:\n"
            + json.dumps(
                [
                    {k: s[k] for k in ("id", "description", "capabilities", "depends_on", "status")}
                    for s in last["subtasks"]
                ]
            )
        )
    if done:
        parts.append(
            "These subtasks are finished; do not plan them again. Plan only the remaining "
            "work, with new ids; you may depend on these ids:\n"
            + "\n".join(
                f"[{s['id']}] {s['description']}\n  result: {brief(s['result'] or '', 500)}"
                for s in done
            )
        )
    if state.get("plan_feedback"):
        parts.append(
            f"A reviewer rejected the last plan with this feedback: {state.get('plan_feedback')}"
        )
    return [SystemMessage(system), HumanMessage("\n\n".join(parts))]


def make_planner(deps: NodeDeps) -> Any:
    """Build the planner node."""

    async def planner(
        state: WorkforceState, config: RunnableConfig, runtime: Runtime[Any]
    ) -> dict[str, Any]:
        started = time.perf_counter()
        meter = _PlannerMeter("planner")
        request = request_of(state)
        base: dict[str, Any] = {"task": request, "plan_feedback": None, "plan_fallback": None}
        if starts_new_run(state):
            # A new request on a finished thread: a new run, the conversation kept.
            fresh: dict[str, Any] = {
                "subtasks": [],
                "replans": 0,
                "failed_plans": [],
                "answer": None,
                "error": None,
                "verdict": None,
                "elapsed_s": 0.0,
                "stop_reason": None,
                "server_errors": 0,
            }
            base.update(fresh)
            state = WorkforceState(**{**state, **fresh, "usage": {}})  # type: ignore[typeddict-item]
            meter.fresh = True
        base["messages"] = request_message(state.get("messages", []), request)
        if state.get("plan") is not None:
            # Used for this run's first plan only: a replan, or the thread's next run,
            # asks the planner unless a plan is given again.
            base.update(plan=None, variables=None)
        streak = ServerErrorStreak(int(state.get("server_errors") or 0))
        update = await _plan(deps, state, config, runtime, request, base, meter, streak)
        return {**update, "server_errors": streak.count, "elapsed_s": spent_s(state, started)}

    return planner


async def _plan(
    deps: NodeDeps,
    state: WorkforceState,
    config: RunnableConfig,
    runtime: Runtime[Any],
    request: str,
    base: dict[str, Any],
    meter: _PlannerMeter,
    streak: ServerErrorStreak,
) -> dict[str, Any]:
    """The planner's update: a validated plan, the fallback plan, or why there is none."""
    settings = deps.settings_for(runtime.context)
    model = deps.model_for("planner", runtime.context)
    kept = [s for s in state.get("subtasks", []) if s["status"] == "done"]
    kept_ids = {s["id"] for s in kept}
    if not request.strip():
        return _give_up(
            base, meter, "the request is empty; pass {'task': '...'} or a human message"
        )
    if state.get("plan") is not None:
        steps = given_plan(
            state.get("plan"),
            state.get("variables"),
            offered_capabilities=deps.registry.offered_capabilities(),
            max_subtasks=settings.max_subtasks,
        )
        given = [pending_subtask(p) for p in steps]
        return _planned(base, meter, state, given, attempt=None, source="given")
    constrained = _is_constrained(model)
    past_runs = await recall(runtime.store, request, settings)
    prompt = _prompt(state, deps, request, constrained=constrained, past_runs=past_runs)
    capabilities = tuple(sorted(deps.registry.offered_capabilities()))
    schema = (
        positional_plan_schema(
            capabilities,
            positions_within(getattr(model, "max_tokens", None), settings.max_subtasks),
            tuple(sorted(kept_ids)),
        )
        if constrained
        else plan_schema(capabilities)
    )
    problems: list[str] = []
    details: list[str] = []
    for attempt in range(1, settings.max_plan_attempts + 1):
        plan = await deps.ask(
            "planner",
            schema,
            prompt,
            context=runtime.context,
            config=config,
            meter=meter,
            streak=streak,
            attempts=1,
        )
        if isinstance(plan, CallFailure):
            # People read the plain problem; the technical one goes to the events.
            problems.append(plan.reason)
            details.append(plan.detail)
            if not plan.answered:
                continue  # a failed call (HTTP 400, 5xx, a timeout) is a failed attempt
            prompt = _repair(prompt, plan.reason)
            continue
        # Models often repeat finished subtasks when replanning; those stay as they are.
        planned = [p for p in plan.subtasks if p.id not in kept_ids]
        try:
            validate_plan(
                planned,
                offered_capabilities=deps.registry.offered_capabilities(),
                done_ids=kept_ids,
                max_subtasks=settings.max_subtasks,
            )
        except PlanValidationError as exc:
            problems.append(str(exc))
            details.append(str(exc))
            prompt = _repair(prompt, str(exc))
            continue
        planned_subtasks = kept + [pending_subtask(p) for p in planned]
        return _planned(base, meter, state, planned_subtasks, attempt=attempt)
    reason = no_plan_reason(settings.max_plan_attempts, problems[-1])
    if not settings.plan_fallback:
        return _give_up(base, meter, reason, detail=details[-1])
    emit("plan_fallback", reason=reason, detail=details[-1])
    single = fallback_plan(request, deps.registry, kept_ids)
    fallback = _planned(base, meter, state, [*kept, single], attempt=None)
    return {**fallback, "plan_fallback": reason}


def _repair(prompt: list[BaseMessage], problem: str) -> list[BaseMessage]:
    """The first prompt again, with why the last plan was unusable."""
    return [
        *prompt[:2],
        HumanMessage(f"That plan is invalid: {problem}\nReply with a corrected plan."),
    ]


def no_plan_reason(attempts: int, last_problem: str) -> str:
    """Why no plan came, for people: ``no valid plan after 1 attempt: ...``."""
    if attempts == 1:
        return f"no valid plan after 1 attempt: {last_problem}"
    return f"no valid plan after {attempts} attempts; the last problem: {last_problem}"


def _is_constrained(model: BaseChatModel) -> bool:
    """Whether the model's replies follow the requested JSON schema exactly."""
    return bool(getattr(model, "constrained_decoding", False))


def _planned(
    base: dict[str, Any],
    meter: _PlannerMeter,
    state: WorkforceState,
    subtasks: list[Subtask],
    *,
    attempt: int | None,
    source: str = "planner",
) -> dict[str, Any]:
    # ``attempt``: the planner call that produced the plan (None: the fallback plan, or
    # a plan given with the request, ``source="given"``).
    emit(
        "plan",
        source=source,
        attempt=attempt,
        subtasks=[
            {k: s[k] for k in ("id", "description", "depends_on", "status")} for s in subtasks
        ],
        replans=state.get("replans", 0),
    )
    return {**base, "subtasks": subtasks, "error": None, "usage": meter.update()}


def fallback_plan(request: str, registry: WorkerRegistry, taken: set[str]) -> Subtask:
    """The whole request as one subtask, for the most general available worker.

    "Most general": the first of :data:`GENERAL_CAPABILITIES` some worker offers, else
    the worker offering the most capabilities.
    """
    offered = registry.offered_capabilities()
    tag = next((t for t in GENERAL_CAPABILITIES if t in offered), None)
    if tag is None:
        widest = max(registry.available.values(), key=lambda w: len(w.capabilities))
        tag = widest.capabilities[0]
    step_id = next(f"s{n}" for n in range(1, len(taken) + 2) if f"s{n}" not in taken)
    return pending_subtask(
        PlannedSubtask(id=step_id, description=request, capabilities=[tag], depends_on=[])
    )


@dataclass
class _PlannerMeter(UsageMeter):
    fresh: bool = False
    """A new run on the thread: the usage counts afresh from this update."""

    def update(self) -> dict[str, Usage] | Overwrite:
        return Overwrite(self.as_update()) if self.fresh else self.as_update()


def _give_up(
    base: dict[str, Any], meter: _PlannerMeter, error: str, *, detail: str | None = None
) -> dict[str, Any]:
    emit("plan_error", error=error, detail=detail)
    return {**base, "error": error, "usage": meter.update()}
