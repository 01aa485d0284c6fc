"""The subtask lifecycle: the plan's types and every transition of a subtask.

A subtask is planned (:func:`pending_subtask`), validated with its plan
(:func:`validate_plan`), failed when no worker can take it (:func:`fail_unassignable`),
assigned (:func:`assign`), dispatched (:func:`mark_dispatched`), run when ready (:func:`is_ready`,
:func:`runnable_ids`), settled by a typed :class:`Outcome` (:func:`apply_outcome`),
retried within ``max_retries`` (:func:`may_retry`, :func:`retry_failed`), and finally
judged: dispatch more, replan or finish (:func:`decide`). The verbs are pure functions
on JSON-friendly values; the nodes call them and emit the progress events.

CAMEL's coordinator accepts unknown and cyclic dependency ids and lets tasks wait 600 s;
here a plan is a DAG or it is sent back to the planner with the exact error.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import Literal, NotRequired, Protocol

from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from workforce_graph.bounds import DESCRIPTION_CHARS, REASON_CHARS, bound
from workforce_graph.usage import Usage

__all__ = [
    "NOT_RUN_IN_TIME",
    "Decision",
    "FailedPlan",
    "Outcome",
    "Plan",
    "PlanValidationError",
    "PlannedSubtask",
    "Subtask",
    "SubtaskStatus",
    "Verdict",
    "apply_outcome",
    "assign",
    "blocked",
    "decide",
    "fail_unassignable",
    "failed_outcome",
    "is_ready",
    "mark_dispatched",
    "may_retry",
    "pending_subtask",
    "ready_subtasks",
    "retry_failed",
    "runnable_ids",
    "time_budget_reason",
    "topological_order",
    "unfinished",
    "validate_plan",
]

SubtaskStatus = Literal["pending", "running", "done", "failed"]
Verdict = Literal["dispatch", "replan", "finish"]


class Subtask(TypedDict):
    """One node of the plan's DAG, as kept in the graph state."""

    id: str
    description: str
    capabilities: list[str]
    depends_on: list[str]
    worker: str | None
    status: SubtaskStatus
    result: str | None
    failure_reason: str | None
    attempts: int
    unverified: NotRequired[str | None]
    """Why the verifier could not check the result (``verify_results``); the result is
    kept and the answer says it was not checked."""


class FailedPlan(TypedDict):
    """A plan given up on, kept so the planner (and a trainer) can learn from it."""

    subtasks: list[Subtask]
    reasons: list[str]


class PlannedSubtask(BaseModel):
    """One step of a plan as the planner (or a person reviewing it) writes it."""

    id: str = Field(description="Short unique id, e.g. 's1'.")
    description: str = Field(description="Self-contained instruction a worker can act on alone.")
    capabilities: list[str] = Field(description="Capability tags the worker needs.")
    depends_on: list[str] = Field(
        default_factory=list, description="Ids of subtasks whose results this one needs."
    )


class Plan(BaseModel):
    """A plan: subtasks forming a DAG through ``depends_on``."""

    subtasks: list[PlannedSubtask]


class Outcome(TypedDict):
    """How one subtask's run in a round ended (checkpointed as the task's result).

    ``blocked`` means it never ran because a dependency did not finish; it changes
    nothing in the subtask. ``attempts`` counts the runs made for this outcome.
    """

    status: Literal["done", "failed", "blocked"]
    result: str
    reason: str | None
    attempts: int
    seconds: float
    usage: dict[str, Usage]
    unverified: NotRequired[str | None]
    """Why a done result could not be checked by the verifier."""


class _Step(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def capabilities(self) -> list[str]: ...
    @property
    def depends_on(self) -> list[str]: ...


class PlanValidationError(ValueError):
    """The plan is not a usable DAG; ``problems`` lists every reason found."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


def pending_subtask(planned: PlannedSubtask) -> Subtask:
    """A planned step as a state subtask, not yet assigned or run."""
    return Subtask(
        id=planned.id,
        description=bound(planned.description, DESCRIPTION_CHARS),
        capabilities=list(planned.capabilities),
        depends_on=list(planned.depends_on),
        worker=None,
        status="pending",
        result=None,
        failure_reason=None,
        attempts=0,
    )


def validate_plan(
    steps: Sequence[_Step],
    *,
    offered_capabilities: Collection[str],
    done_ids: Collection[str] = (),
    max_subtasks: int | None = None,
) -> None:
    """Raise :class:`PlanValidationError` unless ``steps`` form a valid plan.

    Args:
        steps: The planned subtasks.
        offered_capabilities: Capability tags some available worker offers.
        done_ids: Ids of subtasks finished in an earlier plan; steps may depend on them
            but may not reuse their ids.
        max_subtasks: Upper bound on the number of new steps.
    """
    problems: list[str] = []
    if not steps:
        problems.append("the plan has no subtasks; give at least one")
    if max_subtasks is not None and len(steps) > max_subtasks:
        problems.append(f"the plan has {len(steps)} subtasks; at most {max_subtasks} are allowed")
    seen: set[str] = set()
    for step in steps:
        if not step.id.strip():
            problems.append("a subtask has an empty id")
        if step.id in seen:
            problems.append(f"subtask id {step.id!r} is used more than once")
        if step.id in done_ids:
            problems.append(f"subtask id {step.id!r} is already a finished subtask; pick a new id")
        seen.add(step.id)
        if not step.description.strip():
            problems.append(f"subtask {step.id!r} has an empty description")
    known = seen | set(done_ids)
    offered = set(offered_capabilities)
    for step in steps:
        for dep in step.depends_on:
            if dep not in known:
                problems.append(f"subtask {step.id!r} depends on unknown id {dep!r}")
            if dep == step.id:
                problems.append(f"subtask {step.id!r} depends on itself")
        if not step.capabilities:
            problems.append(f"subtask {step.id!r} names no capability")
        for tag in step.capabilities:
            if tag not in offered:
                problems.append(
                    f"subtask {step.id!r} needs capability {tag!r}, which no available worker "
                    f"offers (offered: {', '.join(sorted(offered))})"
                )
    if not problems:
        try:
            topological_order({s.id: [d for d in s.depends_on if d in seen] for s in steps})
        except CycleError as exc:
            cycle = " -> ".join(str(n) for n in exc.args[1])
            problems.append(f"the dependencies form a cycle: {cycle}")
    if problems:
        raise PlanValidationError(problems)


def topological_order(depends_on: Mapping[str, Iterable[str]]) -> list[str]:
    """Ids ordered so that each comes after its dependencies (stable for equal ranks).

    Raises:
        graphlib.CycleError: If the dependencies form a cycle.
    """
    position = {node: i for i, node in enumerate(depends_on)}
    sorter: TopologicalSorter[str] = TopologicalSorter(
        {n: [d for d in deps if d in position] for n, deps in depends_on.items()}
    )
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.__getitem__)
        order.extend(ready)
        sorter.done(*ready)
    return order


def is_ready(subtask: Subtask, settled: Collection[str]) -> bool:
    """The one definition of ready: not yet run, every dependency in ``settled``."""
    return subtask["status"] in ("pending", "running") and all(
        d in settled for d in subtask["depends_on"]
    )


def _done_ids(subtasks: Iterable[Subtask]) -> set[str]:
    return {s["id"] for s in subtasks if s["status"] == "done"}


def ready_subtasks(subtasks: list[Subtask]) -> list[Subtask]:
    """Subtasks ready now (their dependencies are done), in plan order."""
    done = _done_ids(subtasks)
    return [s for s in subtasks if is_ready(s, done)]


def runnable_ids(subtasks: list[Subtask]) -> list[str]:
    """Assigned subtasks that can run this round, in topological order.

    A subtask is runnable when it is ready counting the runnable subtasks before it as
    settled: it then waits inside the round for them instead of for the next round.
    """
    by_id = {s["id"]: s for s in subtasks}
    order = topological_order({s["id"]: s["depends_on"] for s in subtasks})
    settled = _done_ids(subtasks)
    runnable: list[str] = []
    for sid in order:
        if by_id[sid]["worker"] and is_ready(by_id[sid], settled):
            settled.add(sid)
            runnable.append(sid)
    return runnable


def mark_dispatched(subtasks: list[Subtask]) -> list[Subtask]:
    """Assigned subtasks ready now become ``running`` (visible in a mid-round checkpoint)."""
    done = _done_ids(subtasks)
    return [
        Subtask(**{**s, "status": "running"}) if s["worker"] and is_ready(s, done) else s
        for s in subtasks
    ]


def blocked(reason: str) -> Outcome:
    """The outcome of a subtask that could not run because of its dependencies."""
    return Outcome(status="blocked", result="", reason=reason, attempts=0, seconds=0.0, usage={})


def failed_outcome(reason: str, *, attempts: int = 1) -> Outcome:
    """The outcome of a subtask that ended as failed outside a worker run."""
    return Outcome(
        status="failed", result="", reason=reason, attempts=attempts, seconds=0.0, usage={}
    )


def apply_outcome(subtask: Subtask, outcome: Outcome) -> Subtask:
    """The subtask after ``outcome``; a blocked outcome leaves it as it was."""
    if outcome["status"] == "blocked":
        return subtask
    attempts = subtask["attempts"] + outcome["attempts"]
    # A note about an earlier result does not carry over to this one.
    before = {k: v for k, v in subtask.items() if k != "unverified"}
    if outcome["status"] == "done":
        unverified = outcome.get("unverified")
        return Subtask(
            **{
                **before,  # type: ignore[typeddict-item]
                "status": "done",
                "result": outcome["result"],
                "failure_reason": None,
                "attempts": attempts,
                **({"unverified": unverified} if unverified else {}),
            }
        )
    return Subtask(
        **{
            **before,  # type: ignore[typeddict-item]
            "status": "failed",
            "failure_reason": bound(outcome["reason"] or "unknown failure", REASON_CHARS),
            "attempts": attempts,
        }
    )


def assign(subtask: Subtask, worker: str) -> Subtask:
    """The subtask assigned to ``worker``."""
    return Subtask(**{**subtask, "worker": worker})


def fail_unassignable(subtask: Subtask, reason: str) -> Subtask:
    """A subtask no worker can take; it counts an attempt so retrying it stays bounded."""
    return apply_outcome(subtask, failed_outcome(reason))


def may_retry(subtask: Subtask, max_retries: int) -> bool:
    """Whether a failed subtask has a retry left (``max_retries`` re-runs after the first)."""
    return subtask["status"] == "failed" and subtask["attempts"] <= max_retries


def retry_failed(subtasks: list[Subtask], max_retries: int) -> tuple[list[Subtask], list[Subtask]]:
    """Failed subtasks with a retry left become pending again.

    Returns:
        The subtasks after the change, and the ones set to retry (before the change).
    """
    retried = [s for s in subtasks if may_retry(s, max_retries)]
    ids = {s["id"] for s in retried}
    return (
        [Subtask(**{**s, "status": "pending"}) if s["id"] in ids else s for s in subtasks],
        retried,
    )


@dataclass(frozen=True)
class Decision:
    """What happens after a round: the routing verdict and what it changes."""

    verdict: Verdict
    subtasks: list[Subtask]
    retried: list[Subtask] = field(default_factory=list)
    """Subtasks set to run again (as they were before)."""
    failed_plan: FailedPlan | None = None
    """The plan given up on, when the verdict is ``replan``."""
    stop_reason: str | None = None
    """Why the run finishes with work left (its time budget ran out)."""


NOT_RUN_IN_TIME = "not run: the run's time budget ran out first"
"""The failure of a subtask the time budget left no time for."""


def time_budget_reason(max_run_s: float, elapsed_s: float) -> str:
    """The answer's reason when ``max_run_s`` ended a run with work left."""
    return (
        f"the time budget ran out ({max_run_s:g} s of {elapsed_s:.1f} s spent) before every "
        "subtask finished"
    )


def decide(
    subtasks: list[Subtask],
    *,
    replans: int,
    max_retries: int,
    max_replans: int,
    elapsed_s: float = 0.0,
    max_run_s: float = float("inf"),
) -> Decision:
    """Retry what may be retried, else replan a failed plan within budget, else go on or finish.

    The one routing decision after a round, so a failure among parallel siblings cannot
    trigger a replan twice. Once ``elapsed_s`` reaches ``max_run_s`` nothing more
    runs: the run finishes with what is done, the subtasks that were ready to run failed
    with :data:`NOT_RUN_IN_TIME`, and the decision's ``stop_reason`` says why.
    """
    if elapsed_s >= max_run_s and any(s["status"] != "done" for s in subtasks):
        ready = {s["id"] for s in ready_subtasks(subtasks)}
        return Decision(
            "finish",
            [
                apply_outcome(s, failed_outcome(NOT_RUN_IN_TIME, attempts=0))
                if s["id"] in ready
                else s
                for s in subtasks
            ],
            stop_reason=time_budget_reason(max_run_s, elapsed_s),
        )
    after, retried = retry_failed(subtasks, max_retries)
    if retried:
        return Decision("dispatch", after, retried=retried)
    failed = [s for s in subtasks if s["status"] == "failed"]
    if failed and replans < max_replans:
        reasons = [
            f"subtask {s['id']} ({s['worker']}) failed: {s['failure_reason']}" for s in failed
        ]
        return Decision(
            "replan", subtasks, failed_plan=FailedPlan(subtasks=subtasks, reasons=reasons)
        )
    if not failed and ready_subtasks(subtasks):
        return Decision("dispatch", subtasks)
    return Decision("finish", subtasks)


def unfinished(subtasks: Iterable[Subtask]) -> list[dict[str, str]]:
    """``{"id", "reason"}`` for each subtask that did not finish, for the answer."""
    return [
        {
            "id": s["id"],
            "reason": s["failure_reason"]
            or ("a subtask it depends on failed" if s["status"] == "pending" else s["status"]),
        }
        for s in subtasks
        if s["status"] != "done"
    ]
