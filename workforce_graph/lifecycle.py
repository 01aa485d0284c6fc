"""The subtask lifecycle: every transition of a subtask.

A subtask is planned (:func:`pending_subtask`), validated with its plan
(:func:`~workforce_graph.plan_validation.validate_plan`), failed when no worker can take
it (:func:`fail_unassignable`), assigned (:func:`assign`), dispatched
(:func:`mark_dispatched`), run when ready (:func:`is_ready`, :func:`runnable_ids`),
settled by a typed :class:`Outcome` (:func:`apply_outcome`), retried within
``max_retries`` (:func:`may_retry`, :func:`retry_failed`), and finally judged: dispatch
more, replan or finish (:func:`decide`); a finished subtask can be reopened with
everything that depends on it (:func:`reopen`, for a rerun). The verbs are pure functions
on JSON-friendly values; the nodes call them and emit the progress events.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Literal, NotRequired

from typing_extensions import TypedDict

from workforce_graph.bounds import DESCRIPTION_CHARS, REASON_CHARS, bound
from workforce_graph.calls.usage import Usage
from workforce_graph.failures import FailedPart, FailureKind

# The plan's types and its validation have their own module; they are part of the
# lifecycle's vocabulary, so they stay importable from here.
from workforce_graph.plan_validation import (
    Plan,
    PlannedSubtask,
    PlanValidationError,
    topological_order,
    validate_plan,
)

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
    "UnknownSubtaskError",
    "Verdict",
    "apply_outcome",
    "assign",
    "blocked",
    "decide",
    "dependants",
    "fail_unassignable",
    "failed_outcome",
    "is_ready",
    "mark_dispatched",
    "may_retry",
    "pending_subtask",
    "ready_subtasks",
    "reopen",
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
    failure_kind: NotRequired[FailureKind | None]
    """What kind of failure ``failure_reason`` is (absent in older checkpoints)."""
    unverified: NotRequired[str | None]
    """Why the verifier could not check the result (``verify_results``); the result is
    kept and the answer says it was not checked."""


class FailedPlan(TypedDict):
    """A plan given up on, kept so the planner (and a trainer) can learn from it."""

    subtasks: list[Subtask]
    reasons: list[str]


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
    kind: NotRequired[FailureKind | None]
    """What kind of failure ``reason`` is; ``None`` when done."""
    unverified: NotRequired[str | None]
    """Why a done result could not be checked by the verifier."""


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


class UnknownSubtaskError(LookupError):
    """A subtask id that is not in the plan (one line, naming the ids there are)."""


def dependants(subtasks: Iterable[Subtask], from_id: str) -> set[str]:
    """``from_id`` and every subtask that depends on it, directly or through others."""
    by_parent: dict[str, list[str]] = {}
    for s in subtasks:
        for d in s["depends_on"]:
            by_parent.setdefault(d, []).append(s["id"])
    found, todo = {from_id}, [from_id]
    while todo:
        for child in by_parent.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def reopen(
    subtasks: list[Subtask], from_id: str, *, description: str | None = None
) -> list[Subtask]:
    """``from_id`` and its dependants (transitively) as fresh pending subtasks; the rest kept.

    A reopened subtask is what :func:`pending_subtask` makes of it: no worker (the
    coordinator assigns it again), no result, failure or attempts, so a rerun has its
    full retry budget and no note of the old result carries over.

    Args:
        subtasks: The plan as it stands.
        from_id: The subtask to run again.
        description: Replaces ``from_id``'s description (bounded as a planned one is).

    Raises:
        UnknownSubtaskError: No subtask has the id ``from_id`` (the message lists the ids).
    """
    if all(s["id"] != from_id for s in subtasks):
        known = ", ".join(s["id"] for s in subtasks) or "none"
        raise UnknownSubtaskError(f"no subtask {from_id!r} in the plan (subtasks: {known})")
    reopened = dependants(subtasks, from_id)
    return [
        pending_subtask(
            PlannedSubtask(
                id=s["id"],
                description=description
                if description is not None and s["id"] == from_id
                else s["description"],
                capabilities=s["capabilities"],
                depends_on=s["depends_on"],
            )
        )
        if s["id"] in reopened
        else s
        for s in subtasks
    ]


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


def failed_outcome(reason: str, kind: FailureKind, *, attempts: int = 1) -> Outcome:
    """The outcome of a subtask that ended as failed outside a worker run."""
    return Outcome(
        status="failed",
        result="",
        reason=reason,
        attempts=attempts,
        seconds=0.0,
        usage={},
        kind=kind,
    )


def apply_outcome(subtask: Subtask, outcome: Outcome) -> Subtask:
    """The subtask after ``outcome``; a blocked outcome leaves it as it was."""
    if outcome["status"] == "blocked":
        return subtask
    attempts = subtask["attempts"] + outcome["attempts"]
    # A note about an earlier result (or failure) does not carry over to this one.
    before = {k: v for k, v in subtask.items() if k not in ("unverified", "failure_kind")}
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
            **({"failure_kind": outcome["kind"]} if outcome.get("kind") else {}),
        }
    )


def assign(subtask: Subtask, worker: str) -> Subtask:
    """The subtask assigned to ``worker``."""
    return Subtask(**{**subtask, "worker": worker})


def fail_unassignable(subtask: Subtask, reason: str) -> Subtask:
    """A subtask no worker can take; it counts an attempt so retrying it stays bounded."""
    return apply_outcome(subtask, failed_outcome(reason, "no_worker"))


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
                apply_outcome(s, failed_outcome(NOT_RUN_IN_TIME, "time_budget", attempts=0))
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


def unfinished(subtasks: Iterable[Subtask]) -> list[FailedPart]:
    """``{"id", "reason", "kind"}`` for each subtask that did not finish, for the answer.

    ``kind`` is left out only for a failure recorded before kinds existed.
    """
    parts: list[FailedPart] = []
    for s in (s for s in subtasks if s["status"] != "done"):
        reason, kind = s["failure_reason"], s.get("failure_kind")
        if not reason and s["status"] == "pending":
            reason, kind = "a subtask it depends on failed", "dependency"
        parts.append(FailedPart(id=s["id"], reason=reason or s["status"]))
        if kind:
            parts[-1]["kind"] = kind
    return parts
