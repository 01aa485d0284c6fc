"""Executor: runs the chosen worker on the turn's sub-goal and records the turn.

The worker runs through the same runtime as in the Workforce graph (wall-clock timeout,
tool-call budget, sandboxed tools, ``SubtaskFailed``). Whatever happens (no usable
step, a worker that does not exist or is unavailable, a failure) becomes a typed record
in the memory; nothing here ends the run.
"""

from __future__ import annotations

import time
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from workforce_graph.calls.errors import ServerErrorStreak
from workforce_graph.calls.roles import role_config
from workforce_graph.calls.usage import UsageMeter
from workforce_graph.deps import NodeDeps
from workforce_graph.events import emit
from workforce_graph.flow.memory import failed_record, finished_record
from workforce_graph.flow.state import FlowState, MemoryRecord, NextStep
from workforce_graph.plugins import WorkerRegistry
from workforce_graph.worker_runtime import run_worker
from workforce_graph.workers import SubtaskContext, WorkerSpec

__all__ = ["make_executor", "worker_for"]

_MIN_TIMEOUT_S = 0.001


def worker_for(registry: WorkerRegistry, step: NextStep) -> WorkerSpec | str:
    """The worker of ``step``, or why the step cannot run."""
    if step["error"]:
        return step["error"]
    spec = registry.available.get(step["worker"])
    if spec is not None:
        return spec
    choices = ", ".join(sorted(registry.available)) or "none"
    known = registry.workers.get(step["worker"])
    if known is not None:
        return (
            f"worker {step['worker']!r} is unavailable ({known.unavailable_reason}); "
            f"choose one of: {choices}"
        )
    return f"there is no worker named {step['worker']!r}; choose one of: {choices}"


def _task_of(step: NextStep) -> str:
    if not step["context"]:
        return step["sub_goal"]
    return f"{step['sub_goal']}\n\nContext from earlier turns:\n{step['context']}"


def make_executor(deps: NodeDeps) -> Any:
    """Build the executor node."""

    async def executor(
        state: FlowState, config: RunnableConfig, runtime: Runtime[Any]
    ) -> dict[str, Any]:
        started = time.perf_counter()
        context = runtime.context
        settings = deps.settings_for(context)
        step = state.get("step")
        elapsed = float(state.get("elapsed_s") or 0.0)
        if step is None:  # not reachable through the graph's edges
            return {}
        turn_id = f"t{step['turn']}"
        spec = worker_for(deps.registry, step)
        meter: UsageMeter | None = None
        streak = ServerErrorStreak(int(state.get("server_errors") or 0))
        record: MemoryRecord
        if isinstance(spec, str):
            record = failed_record(step, spec)
        else:
            # A turn may not outlast the run's time budget.
            timeout_s = min(settings.subtask_timeout_s, settings.max_run_s - elapsed)
            emit("started", subtask_id=turn_id, worker=spec.name, turn=step["turn"])
            meter = UsageMeter(f"executor:{spec.name}")
            outcome = await run_worker(
                spec,
                deps.model_for("executor", context),
                SubtaskContext(
                    request=str(state.get("task") or ""),
                    subtask_id=turn_id,
                    description=_task_of(step),
                    capabilities=list(spec.capabilities),
                    dependency_results={},
                    attachments=list(state.get("attachments") or []),
                ),
                max_tool_calls=settings.max_tool_calls,
                timeout_s=max(_MIN_TIMEOUT_S, timeout_s),
                meter=meter,
                config=role_config(
                    config, "executor", node="executor", subtask_id=turn_id, turn=step["turn"]
                ),
                streak=streak,
            )
            seconds = time.perf_counter() - started
            if outcome["status"] == "done":
                record = finished_record(
                    step, outcome["result"], tool_calls=outcome["tool_calls"], seconds=seconds
                )
            else:
                record = failed_record(
                    step,
                    outcome["reason"] or "unknown failure",
                    tool_calls=outcome["tool_calls"],
                    seconds=seconds,
                )
        if record["status"] == "done":
            emit(
                "finished",
                subtask_id=turn_id,
                worker=record["worker"],
                turn=record["turn"],
                seconds=record["seconds"],
                result=record["result"][:200],
            )
        else:
            emit(
                "failed",
                subtask_id=turn_id,
                worker=record["worker"] or None,
                turn=record["turn"],
                reason=record["failure_reason"],
            )
        return {
            "memory": [*(state.get("memory") or []), record],
            "step": None,
            "usage": meter.as_update() if meter else {},
            "elapsed_s": elapsed + time.perf_counter() - started,
            "server_errors": streak.count,
        }

    return executor
