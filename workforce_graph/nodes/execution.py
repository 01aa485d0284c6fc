"""Workers: run the assigned subtasks of the DAG, each as soon as its dependencies finish.

LangGraph's ``Send`` supersteps wait for their slowest task, so a DAG run wave by wave
takes longer than its critical path. Here every runnable subtask is one LangGraph
``@task`` started eagerly: durable (a finished subtask's result is checkpointed the
moment it ends, so a resumed run does not redo it) and bounded by ``max_concurrency``.

Task results are matched to calls by call order on resume, so the tasks are *called*
in a fixed topological order up front; each one then waits inside for its dependencies
and for a concurrency slot. Callers earlier in that order never wait on later ones, so
the schedule cannot deadlock.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.func import task
from langgraph.runtime import Runtime

from workforce_graph.bounds import REASON_CHARS, bound
from workforce_graph.events import emit
from workforce_graph.nodes.deps import NodeDeps
from workforce_graph.nodes.verifier import check_result
from workforce_graph.plan_validation import topological_order
from workforce_graph.settings import WorkforceSettings
from workforce_graph.state import Subtask, Usage, WorkforceState, add_usage
from workforce_graph.usage import UsageMeter
from workforce_graph.worker_runtime import run_worker
from workforce_graph.workers import SubtaskContext

__all__ = ["make_workers_node"]


@dataclass
class _Round:
    """In-process coordination of one execution round (never checkpointed)."""

    deps: NodeDeps
    settings: WorkforceSettings
    context: Any
    request: str
    attachments: list[str]
    subtasks: dict[str, Subtask]
    outcomes: dict[str, asyncio.Future[dict[str, Any]]]
    slots: asyncio.Semaphore
    config: RunnableConfig
    usage: dict[str, Usage] = field(default_factory=dict)


_ROUNDS: dict[str, _Round] = {}


async def execute_subtask(round_id: str, subtask_id: str) -> dict[str, Any]:
    """One subtask on its worker; returns a JSON-friendly outcome (checkpointed)."""
    rnd = _ROUNDS[round_id]
    subtask = rnd.subtasks[subtask_id]
    dep_results: dict[str, str] = {}
    for dep in subtask["depends_on"]:
        outcome = await rnd.outcomes[dep]
        if outcome["status"] != "done":
            return {"status": "blocked", "reason": f"dependency {dep} did not finish"}
        dep_results[dep] = outcome["result"]
    worker_name = subtask["worker"] or ""
    spec = rnd.deps.registry.available.get(worker_name)
    if spec is None:
        return {
            "status": "failed",
            "reason": f"worker {worker_name!r} is not available",
            "result": "",
        }
    context = SubtaskContext(
        request=rnd.request,
        subtask_id=subtask_id,
        description=subtask["description"],
        capabilities=list(subtask["capabilities"]),
        dependency_results=dep_results,
        attachments=list(rnd.attachments),
    )
    async with rnd.slots:
        emit("started", subtask_id=subtask_id, worker=worker_name)
        started = time.perf_counter()
        meter = UsageMeter(f"worker:{worker_name}")
        result: dict[str, Any] = dict(
            await run_worker(
                spec,
                rnd.deps.model_for("worker", rnd.context),
                context,
                max_tool_calls=rnd.settings.max_tool_calls,
                timeout_s=rnd.settings.subtask_timeout_s,
                meter=meter,
                config=rnd.config,
            )
        )
        if result["status"] == "done" and rnd.settings.verify_results:
            verifier_meter = UsageMeter("verifier")
            problem = await check_result(
                rnd.deps.model_for("verifier", rnd.context),
                context,
                result["result"],
                verifier_meter,
            )
            result["usage_verifier"] = verifier_meter.as_update()
            if problem:
                result.update(status="failed", reason=f"verifier: {problem}")
        result["usage"] = meter.as_update()
        result["seconds"] = round(time.perf_counter() - started, 3)
    if result["status"] == "done":
        emit(
            "finished",
            subtask_id=subtask_id,
            worker=worker_name,
            seconds=result["seconds"],
            result=result["result"][:200],
        )
    else:
        emit("failed", subtask_id=subtask_id, worker=worker_name, reason=result["reason"])
    return result


# The plain function stays importable under its own name: LangGraph caches the runnable
# it builds for a task only then, and otherwise rebuilds it (signature inspection
# included) on every call, about a quarter of a millisecond per subtask.
run_subtask = task(execute_subtask)


def _runnable_ids(subtasks: list[Subtask]) -> list[str]:
    """Pending subtasks whose dependencies are done or will run this round, in topological order."""
    by_id = {s["id"]: s for s in subtasks}
    order = topological_order({s["id"]: s["depends_on"] for s in subtasks})
    runnable: set[str] = set()
    for sid in order:
        s = by_id[sid]
        if (
            s["status"] in ("pending", "running")
            and s["worker"]
            and all(
                by_id[d]["status"] == "done" or d in runnable for d in s["depends_on"] if d in by_id
            )
        ):
            runnable.add(sid)
    return [sid for sid in order if sid in runnable]


def make_workers_node(deps: NodeDeps) -> Any:
    """Build the node that executes the plan's runnable subtasks."""

    async def workers(
        state: WorkforceState, config: RunnableConfig, runtime: Runtime[Any]
    ) -> dict[str, Any]:
        subtasks = [Subtask(**s) for s in state.get("subtasks", [])]
        settings = deps.settings_for(runtime.context)
        loop = asyncio.get_running_loop()
        round_id = uuid.uuid4().hex
        rnd = _Round(
            deps=deps,
            settings=settings,
            context=runtime.context,
            request=state.get("task", ""),
            attachments=list(state.get("attachments") or []),
            subtasks={s["id"]: s for s in subtasks},
            outcomes={s["id"]: loop.create_future() for s in subtasks},
            slots=asyncio.Semaphore(settings.max_concurrency),
            config=config,
        )
        for s in subtasks:
            if s["status"] == "done":
                rnd.outcomes[s["id"]].set_result({"status": "done", "result": s["result"] or ""})
        order = _runnable_ids(subtasks)
        for s in subtasks:
            if s["id"] not in order and s["status"] != "done":
                rnd.outcomes[s["id"]].set_result({"status": "blocked"})
        _ROUNDS[round_id] = rnd
        usage: dict[str, Usage] = {}
        try:
            calls = {sid: run_subtask(round_id, sid) for sid in order}

            async def settle(sid: str) -> None:
                try:
                    outcome = await calls[sid]
                except Exception as exc:  # the task machinery itself failed
                    outcome = {
                        "status": "failed",
                        "reason": f"{type(exc).__name__}: {exc}",
                        "result": "",
                    }
                rnd.outcomes[sid].set_result(outcome)
                _apply(rnd.subtasks[sid], outcome)
                nonlocal usage
                usage = add_usage(
                    add_usage(usage, outcome.get("usage")), outcome.get("usage_verifier")
                )

            await asyncio.gather(*(settle(sid) for sid in order))
        finally:
            del _ROUNDS[round_id]
        return {"subtasks": list(rnd.subtasks.values()), "usage": usage}

    return workers


def _apply(subtask: Subtask, outcome: dict[str, Any]) -> None:
    if outcome["status"] == "blocked":
        return
    subtask["attempts"] += 1
    if outcome["status"] == "done":
        subtask["status"] = "done"
        subtask["result"] = outcome["result"]
        subtask["failure_reason"] = None
    else:
        subtask["status"] = "failed"
        subtask["failure_reason"] = bound(outcome.get("reason") or "unknown failure", REASON_CHARS)
