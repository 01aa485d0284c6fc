"""A past run as the memory keeps it: built from a finished run's state, by pure functions.

A record holds what the next planner can learn from: the request, the plan (each step's
description, capabilities, dependencies, worker and outcome), why steps and given-up
plans failed, whether the answer was complete, and a score when an evaluation gave one.
It holds no results and no answer text: a record helps plan, it does not answer.

Example:
    >>> record = workforce_record(
    ...     {"task": "6 x 7?", "subtasks": [], "answer": {"complete": True, "failed": []}},
    ...     thread_id="t1", now=0.0)
    >>> record["key"], record["complete"]
    ('t1.2b2a8bee', True)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, TypedDict

from workforce_graph.bounds import bound

__all__ = [
    "DESCRIPTION_CHARS",
    "REASON_CHARS",
    "REQUEST_CHARS",
    "PastRun",
    "PastStep",
    "flow_record",
    "record_key",
    "record_text",
    "worked",
    "workforce_record",
]

REQUEST_CHARS = 2_000
"""A request as a record keeps it: enough to match it, not a whole document."""
DESCRIPTION_CHARS = 400
REASON_CHARS = 300


class PastStep(TypedDict):
    """One step of a past run's plan (a subtask, or one of the flow's turns)."""

    id: str
    description: str
    capabilities: list[str]
    depends_on: list[str]
    worker: str | None
    status: str
    """``done`` or ``failed`` (``pending`` when the run ended before it ran)."""
    failure_reason: str | None
    failure_kind: str | None


class PastRun(TypedDict):
    """One finished run, as kept in the store (a plain JSON object)."""

    key: str
    thread_id: str
    topology: str
    request: str
    steps: list[PastStep]
    failed_plans: list[list[str]]
    """The reasons of each plan given up on before the last (Workforce replans)."""
    failures: list[dict[str, str]]
    """The answer's unfinished parts: ``{"id", "reason", "kind"}``."""
    complete: bool
    plan_fallback: bool
    """No valid plan came; the request ran as one subtask."""
    score: float | None
    """1.0 right, 0.0 wrong, when an evaluation scored the run; else ``None``."""
    finished_at: float


def record_key(thread_id: str, request: str) -> str:
    """The key of a run's record: its thread and its request, so a rerun or a resumed
    run of the same request replaces the record and a new request adds one.

    Example:
        >>> record_key("t1", "6 x 7?")
        't1.2b2a8bee'
    """
    digest = hashlib.sha256(request.encode("utf-8")).hexdigest()[:8]
    return f"{thread_id}.{digest}"


def _text(value: Any, limit: int) -> str:
    return bound(" ".join(str(value or "").split()), limit)


def _failures(answer: Mapping[str, Any] | None) -> list[dict[str, str]]:
    return [
        {
            "id": str(f.get("id", "")),
            "reason": _text(f.get("reason"), REASON_CHARS),
            "kind": str(f.get("kind") or ""),
        }
        for f in (answer or {}).get("failed") or []
    ]


def _record(
    state: Mapping[str, Any],
    steps: list[PastStep],
    *,
    topology: str,
    thread_id: str,
    now: float,
    failed_plans: list[list[str]],
) -> PastRun:
    request = str(state.get("task") or "")
    answer = state.get("answer") or {}
    return PastRun(
        key=record_key(thread_id, request),
        thread_id=thread_id,
        topology=topology,
        request=bound(request, REQUEST_CHARS),
        steps=steps,
        failed_plans=failed_plans,
        failures=_failures(answer),
        complete=bool(answer.get("complete")),
        plan_fallback=bool(state.get("plan_fallback")),
        score=None,
        finished_at=now,
    )


def workforce_record(state: Mapping[str, Any], *, thread_id: str, now: float) -> PastRun:
    """The record of a finished Workforce run (its final state, the answer written)."""
    steps = [
        PastStep(
            id=str(s["id"]),
            description=_text(s.get("description"), DESCRIPTION_CHARS),
            capabilities=list(s.get("capabilities") or []),
            depends_on=list(s.get("depends_on") or []),
            worker=s.get("worker"),
            status=str(s.get("status")),
            failure_reason=_text(s.get("failure_reason"), REASON_CHARS) or None,
            failure_kind=s.get("failure_kind"),
        )
        for s in state.get("subtasks") or []
    ]
    failed_plans = [
        [_text(r, REASON_CHARS) for r in plan.get("reasons") or []]
        for plan in state.get("failed_plans") or []
    ]
    return _record(
        state,
        steps,
        topology="workforce",
        thread_id=thread_id,
        now=now,
        failed_plans=failed_plans,
    )


def flow_record(state: Mapping[str, Any], *, thread_id: str, now: float) -> PastRun:
    """The record of a finished flow run: each turn is a step (sub-goal and worker)."""
    steps = [
        PastStep(
            id=f"t{turn['turn']}",
            description=_text(turn.get("sub_goal"), DESCRIPTION_CHARS),
            capabilities=[],
            depends_on=[],
            worker=turn.get("worker") or None,
            status=str(turn.get("status")),
            failure_reason=_text(turn.get("failure_reason"), REASON_CHARS) or None,
            failure_kind=None,
        )
        for turn in state.get("memory") or []
    ]
    return _record(state, steps, topology="flow", thread_id=thread_id, now=now, failed_plans=[])


def worked(record: Mapping[str, Any]) -> bool:
    """Whether the run's plan worked: a complete answer, not scored wrong."""
    score = record.get("score")
    return bool(record.get("complete")) and (score is None or float(score) >= 1.0)


def record_text(record: Mapping[str, Any]) -> str:
    """Every text of a record in one string (for a leak check against questions)."""
    parts: list[str] = [str(record.get("request") or "")]
    for step in record.get("steps") or []:
        parts += [str(step.get("description") or ""), str(step.get("failure_reason") or "")]
    for reasons in record.get("failed_plans") or []:
        parts += [str(r) for r in reasons]
    parts += [str(f.get("reason") or "") for f in record.get("failures") or []]
    return "\n".join(p for p in parts if p)
