"""One run of one task: build nothing, run the graph, record it, say how it ended.

Used the same way by the local executor and by a Ray worker. A run whose thread
already has a checkpoint continues from it (a durable checkpointer makes an
interrupted evaluation resume mid-run); one that finished is not run again.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from workforce_graph.evaluation.leakage import DEFAULT_BLOCKLIST, LeakageGuard, guarding
from workforce_graph.evaluation.outcome import run_failure
from workforce_graph.trajectory.format import FailureKind, Trajectory
from workforce_graph.trajectory.recorder import TrajectoryRecorder

__all__ = ["UnitRun", "UnitSpec", "run_unit"]


@dataclass(frozen=True)
class UnitSpec:
    """A (task, sample) pair as a run needs it: plain values, picklable."""

    task_id: str
    sample: int
    question: str
    files: tuple[str, ...]
    answer_format: str
    thread_id: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class UnitRun:
    """What came back from a run, before scoring."""

    unit: UnitSpec
    answer: str | None
    failure: FailureKind | None
    """A failure kind from :func:`run_failure`, or ``None`` when the run answered."""
    error: str | None
    duration_s: float
    trajectory: dict[str, Any]
    withheld: list[str]
    plan_fallback: bool = False
    """No valid plan came, so the request ran as one subtask: the answer is scored like
    any other, and a wrong one counts as ``plan_fallback``."""


async def _final(graph: Any, unit: UnitSpec, config: dict[str, Any]) -> dict[str, Any]:
    state = None
    if getattr(graph, "checkpointer", None) is not None:
        state = await graph.aget_state(config)
    if state is not None and state.values and not state.next and state.values.get("answer"):
        return dict(state.values)  # finished before an interruption: keep it
    if state is not None and state.next:
        return dict(await graph.ainvoke(None, config))
    payload: dict[str, Any] = {"task": unit.question, "answer_format": unit.answer_format}
    if unit.files:
        payload["attachments"] = list(unit.files)
    return dict(await graph.ainvoke(payload, config))


async def run_unit(
    graph: Any,
    unit: UnitSpec,
    *,
    topology: str,
    timeout_s: float | None,
    blocklist: tuple[str, ...] = DEFAULT_BLOCKLIST,
) -> UnitRun:
    """Run ``unit`` on the compiled ``graph``; never raises for the run's own fault."""
    recorder = TrajectoryRecorder(
        topology=topology, group_id=unit.task_id, meta={**unit.meta, "sample": unit.sample}
    )
    guard = LeakageGuard(unit.question, blocklist)
    config: dict[str, Any] = {
        "configurable": {"thread_id": unit.thread_id},
        "callbacks": [recorder],
        "metadata": {"eval_task_id": unit.task_id, "eval_sample": unit.sample},
    }
    started = time.perf_counter()
    final: dict[str, Any] | None = None
    crash: str | None = None
    with guarding(guard):
        try:
            async with asyncio.timeout(timeout_s):
                final = await _final(graph, unit, config)
        except TimeoutError:
            crash = "timeout"
        except Exception as exc:
            crash = f"{type(exc).__name__}: {exc}"
    duration = time.perf_counter() - started
    failure = run_failure(final, crash)
    answer = final.get("answer") if final else None
    trajectory = recorder.trajectories[-1] if recorder.trajectories else None
    if trajectory is None:  # cut off before the root run ended (a timeout)
        trajectory = Trajectory(
            trajectory_id=unit.thread_id,
            group_id=unit.task_id,
            topology=topology,
            question=unit.question,
            meta={**unit.meta, "sample": unit.sample},
        )
    trajectory.duration_s = duration
    trajectory.question = trajectory.question or unit.question  # a continued thread
    error = crash if crash and crash != "timeout" else (final or {}).get("error")
    if crash == "timeout":
        error = f"timed out after {timeout_s:g} s"
    trajectory.error = error or trajectory.error
    if guard.withheld:
        trajectory.meta["withheld"] = list(guard.withheld)
    return UnitRun(
        unit=unit,
        answer=str(answer.get("text", "")) if isinstance(answer, dict) else None,
        failure=failure,
        error=error,
        duration_s=duration,
        trajectory=trajectory.model_dump(mode="json"),
        withheld=list(guard.withheld),
        plan_fallback=bool((final or {}).get("plan_fallback")),
    )
