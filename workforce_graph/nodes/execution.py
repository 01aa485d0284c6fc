"""Workers: run the assigned subtasks of the DAG, each as soon as its dependencies finish.

LangGraph's ``Send`` supersteps wait for their slowest task, so a DAG run wave by wave
takes longer than its critical path. Here every runnable subtask is one LangGraph
``@task`` started eagerly: durable (a finished subtask's result is checkpointed the
moment it ends, so a resumed run does not redo it) and bounded by ``max_concurrency``.

A failed attempt is retried inside its task at once (within ``max_retries``), so its
dependents go on while its siblings still run instead of waiting for the round to end;
the verifier still makes the one routing decision (replan or finish) after the round.
No attempt outlasts the run's time budget (``max_run_s``): each gets at most the time
left, and none starts once it is spent.

With ``verify_results`` each result is checked by the verifier model as it arrives; a
check that cannot be made (a failed call, an unusable reply) keeps the result, marked
unverified, and every call made for the subtask stays in its usage.

Task results are matched to calls by call order on resume, so the tasks are *called*
in a fixed topological order up front; each one then waits inside for its dependencies
and for a concurrency slot. Callers earlier in that order never wait on later ones, so
the schedule cannot deadlock.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langgraph.func import task
from langgraph.runtime import Runtime

from workforce_graph.calls.errors import ServerErrorStreak, is_fatal
from workforce_graph.calls.roles import role_config
from workforce_graph.calls.usage import Usage, UsageMeter, add_usage
from workforce_graph.deps import NodeDeps, spent_s
from workforce_graph.events import emit
from workforce_graph.lifecycle import (
    NOT_RUN_IN_TIME,
    Outcome,
    Subtask,
    apply_outcome,
    blocked,
    failed_outcome,
    runnable_ids,
)
from workforce_graph.models import runs_in_process
from workforce_graph.nodes.verifier import check_result
from workforce_graph.prompts import brief
from workforce_graph.settings import WorkforceSettings
from workforce_graph.state import WorkforceState
from workforce_graph.worker_runtime import WorkerResult, run_worker
from workforce_graph.workers import SubtaskContext, WorkerSpec

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
    outcomes: dict[str, asyncio.Future[Outcome]]
    slots: asyncio.Semaphore
    config: RunnableConfig
    deadline: float
    """``time.perf_counter()`` value at which the run's time budget is spent."""
    streak: ServerErrorStreak
    """Model calls in a row that failed with a server error, across the round's subtasks."""


_ROUNDS: dict[str, _Round] = {}

STOPPED_IN_TIME = "stopped: the run's time budget ran out while it ran"
"""The failure of an attempt that the run's time budget, not its own timeout, cut."""


async def execute_subtask(round_id: str, subtask_id: str) -> Outcome:
    """One subtask on its worker, retried at once on failure; the outcome is checkpointed."""
    rnd = _ROUNDS[round_id]
    subtask = rnd.subtasks[subtask_id]
    dep_results: dict[str, str] = {}
    for dep in subtask["depends_on"]:
        outcome = await rnd.outcomes[dep]
        if outcome["status"] != "done":
            return blocked(f"dependency {dep} did not finish")
        # One rule for every worker, built-in or custom: dependency results are brief.
        dep_results[dep] = brief(outcome["result"])
    worker_name = subtask["worker"] or ""
    spec = rnd.deps.registry.available.get(worker_name)
    if spec is None:
        reason = f"worker {worker_name!r} is not available"
        emit("failed", subtask_id=subtask_id, worker=worker_name, reason=reason)
        return failed_outcome(reason, "no_worker")
    context = SubtaskContext(
        request=rnd.request,
        subtask_id=subtask_id,
        description=subtask["description"],
        capabilities=list(subtask["capabilities"]),
        dependency_results=dep_results,
        attachments=list(rnd.attachments),
    )
    allowed = max(1, rnd.settings.max_retries + 1 - subtask["attempts"])
    usage: dict[str, Usage] = {}
    started = time.perf_counter()
    seconds = 0.0
    result: WorkerResult | None = None
    unverified: str | None = None
    made = 0
    for attempt in range(1, allowed + 1):
        async with rnd.slots:
            left = rnd.deadline - time.perf_counter()
            if left <= 0:
                if result is not None:
                    break  # the last attempt's failure stands; no time for another
                emit("failed", subtask_id=subtask_id, worker=worker_name, reason=NOT_RUN_IN_TIME)
                return failed_outcome(NOT_RUN_IN_TIME, "time_budget", attempts=0)
            if result is not None:
                emit(
                    "retry",
                    subtask_id=subtask_id,
                    worker=worker_name,
                    attempt=subtask["attempts"] + attempt,
                    reason=result["reason"],
                )
            emit("started", subtask_id=subtask_id, worker=worker_name)
            result, used, unverified = await _attempt(rnd, spec, context, timeout_s=left)
        made = attempt
        usage = add_usage(usage, used)
        seconds = round(time.perf_counter() - started, 3)
        if result["status"] == "done":
            emit(
                "finished",
                subtask_id=subtask_id,
                worker=worker_name,
                seconds=seconds,
                result=result["result"][:200],
            )
            done = Outcome(
                status="done",
                result=result["result"],
                reason=None,
                attempts=attempt,
                seconds=seconds,
                usage=usage,
            )
            if unverified:
                done["unverified"] = unverified
            return done
        if result["kind"] == "timeout" and left < rnd.settings.subtask_timeout_s:
            # Cut by the run's budget, not by its own timeout: say which.
            result = {**result, "reason": STOPPED_IN_TIME, "kind": "time_budget"}
        emit("failed", subtask_id=subtask_id, worker=worker_name, reason=result["reason"])
    assert result is not None  # allowed >= 1
    return Outcome(
        status="failed",
        result="",
        reason=result["reason"],
        attempts=made,
        seconds=seconds,
        usage=usage,
        kind=result["kind"],
    )


async def _attempt(
    rnd: _Round, spec: WorkerSpec, context: SubtaskContext, *, timeout_s: float
) -> tuple[WorkerResult, dict[str, Usage], str | None]:
    """One run of the worker (and of the verifier's check, when asked for).

    Returns the result, the usage of every call made, and why the result could not be
    checked (``None`` when it was, or no check was asked for).
    """
    sid = context["subtask_id"]
    meter = UsageMeter(f"worker:{spec.name}")
    result = await run_worker(
        spec,
        rnd.deps.model_for("worker", rnd.context),
        context,
        max_tool_calls=rnd.settings.max_tool_calls,
        timeout_s=min(rnd.settings.subtask_timeout_s, timeout_s),
        meter=meter,
        config=role_config(rnd.config, "worker", node="workers", subtask_id=sid),
        streak=rnd.streak,
    )
    usage = meter.as_update()
    if result["status"] != "done" or not rnd.settings.verify_results:
        return result, usage, None
    verifier_meter = UsageMeter("verifier")
    try:
        check = await check_result(
            rnd.deps.model_for("verifier", rnd.context),
            context,
            result["result"],
            verifier_meter,
            rnd.config,
            method=rnd.settings.structured_output,
            timeout_s=rnd.settings.call_timeout_s,
            streak=rnd.streak,
        )
    finally:
        # Counted even when the check raises: the worker's calls were made.
        usage = add_usage(usage, verifier_meter.as_update())
    if check.skipped:
        emit("verify_skipped", subtask_id=sid, worker=spec.name, reason=check.skipped)
        return result, usage, check.skipped
    if check.problem:
        result = WorkerResult(
            status="failed",
            result="",
            reason=f"verifier: {check.problem}",
            tool_calls=result["tool_calls"],
            kind="rejected",
        )
    return result, usage, None


# The plain function stays importable under its own name: LangGraph caches the runnable
# it builds for a task only then, and otherwise rebuilds it (signature inspection
# included) on every call, about a quarter of a millisecond per subtask.
run_subtask = task(execute_subtask)


def subtask_slots(settings: WorkforceSettings, worker_model: BaseChatModel) -> int:
    """Subtasks that may run at once.

    An in-process model serves one call at a time, so subtasks run beside each other
    would only queue on it while their timeouts run out.
    """
    return 1 if runs_in_process(worker_model) else settings.max_concurrency


def make_workers_node(deps: NodeDeps) -> Any:
    """Build the node that executes the plan's runnable subtasks."""

    async def workers(
        state: WorkforceState, config: RunnableConfig, runtime: Runtime[Any]
    ) -> dict[str, Any]:
        started = time.perf_counter()
        subtasks = list(state.get("subtasks", []))
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
            slots=asyncio.Semaphore(
                subtask_slots(settings, deps.model_for("worker", runtime.context))
            ),
            config=config,
            deadline=started + settings.max_run_s - float(state.get("elapsed_s") or 0.0),
            streak=ServerErrorStreak(int(state.get("server_errors") or 0)),
        )
        order = runnable_ids(subtasks)
        for s in subtasks:
            if s["status"] == "done":
                rnd.outcomes[s["id"]].set_result(
                    Outcome(
                        status="done",
                        result=s["result"] or "",
                        reason=None,
                        attempts=0,
                        seconds=0.0,
                        usage={},
                    )
                )
            elif s["id"] not in order:
                rnd.outcomes[s["id"]].set_result(blocked("not runnable this round"))
        _ROUNDS[round_id] = rnd
        usage: dict[str, Usage] = {}
        try:
            calls = {sid: run_subtask(round_id, sid) for sid in order}

            async def settle(sid: str) -> None:
                nonlocal usage
                try:
                    outcome: Outcome = await calls[sid]
                except Exception as exc:
                    if is_fatal(exc):
                        raise  # no later call can succeed (or the server keeps failing)
                    # The task machinery failed or the worker was stopped from outside
                    # (LangGraph wraps that in its own exception): a failed subtask with
                    # a reason for people, not an internal exception name.
                    outcome = failed_outcome(
                        "the subtask's run was stopped before it ended", "worker_error"
                    )
                    worker = rnd.subtasks[sid]["worker"]
                    emit("failed", subtask_id=sid, worker=worker, reason=outcome["reason"])
                rnd.outcomes[sid].set_result(outcome)
                rnd.subtasks[sid] = apply_outcome(rnd.subtasks[sid], outcome)
                usage = add_usage(usage, outcome["usage"])

            await asyncio.gather(*(settle(sid) for sid in order))
        finally:
            del _ROUNDS[round_id]
        return {
            "subtasks": list(rnd.subtasks.values()),
            "usage": usage,
            "elapsed_s": spent_s(state, started),
            "server_errors": rnd.streak.count,
        }

    return workers
