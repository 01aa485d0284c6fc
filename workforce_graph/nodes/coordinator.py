"""Coordinator: each pending subtask gets a worker whose declared capabilities fit.

When exactly one worker fits, no model is asked. When several fit, one model call
assigns all such subtasks at once; an answer naming a worker that is unknown or does not
fit goes back once with feedback, then deterministic capability matching decides.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime
from pydantic import BaseModel

from workforce_graph.events import emit
from workforce_graph.model_errors import call_failure, is_fatal
from workforce_graph.nodes.deps import NodeDeps
from workforce_graph.plugins import WorkerRegistry
from workforce_graph.state import Subtask, WorkforceState, ready_subtasks
from workforce_graph.structured import StructuredOutputError, structured_call
from workforce_graph.usage import UsageMeter
from workforce_graph.workers import describe_workers

__all__ = ["Assignment", "Assignments", "candidates_for", "make_coordinator"]


class Assignment(BaseModel):
    subtask_id: str
    worker: str


class Assignments(BaseModel):
    assignments: list[Assignment]


SYSTEM = """You are the coordinator of a team of workers. Assign each subtask to the \
best-suited worker among its candidates. Reply with one assignment per subtask.

Workers:
{workers}"""


def candidates_for(subtask: Subtask, registry: WorkerRegistry) -> list[str]:
    """Available workers covering the most of the subtask's tags (all of them, if any can)."""
    needed = set(subtask["capabilities"])
    coverage = {
        name: len(needed & set(spec.capabilities)) for name, spec in registry.available.items()
    }
    best = max(coverage.values(), default=0)
    if best == 0:
        return []
    return sorted(name for name, covered in coverage.items() if covered == best)


def make_coordinator(deps: NodeDeps) -> Any:
    """Build the coordinator node."""

    async def coordinator(
        state: WorkforceState, config: RunnableConfig, runtime: Runtime[Any]
    ) -> dict[str, Any]:
        subtasks = [Subtask(**s) for s in state.get("subtasks", [])]
        registry = deps.registry
        meter = UsageMeter("coordinator")
        load: dict[str, int] = {}
        choices: dict[str, list[str]] = {}
        for s in subtasks:
            if s["status"] != "pending" or (s["worker"] in registry.available):
                continue
            candidates = candidates_for(s, registry)
            if len(candidates) == 1:
                _assign(s, candidates[0], "capability match", load)
            elif candidates:
                choices[s["id"]] = candidates
            else:
                s["status"] = "failed"
                s["attempts"] += 1  # counts against max_retries, so this cannot loop
                s["failure_reason"] = "no available worker offers " + ", ".join(s["capabilities"])
                emit("failed", subtask_id=s["id"], worker=None, reason=s["failure_reason"])
        if choices:
            try:
                picked = await _ask_model(deps, runtime, config, subtasks, choices, meter)
            except Exception as exc:
                if is_fatal(exc):
                    raise
                # Capability matching can still assign every subtask.
                emit("call_failed", role="coordinator", reason=call_failure(exc))
                picked = {}
            by_id = {s["id"]: s for s in subtasks}
            for sid, candidates in choices.items():
                if sid in picked:
                    _assign(by_id[sid], picked[sid], "model", load)
                else:
                    fallback = min(candidates, key=lambda n: (load.get(n, 0), n))
                    _assign(by_id[sid], fallback, "capability match (fallback)", load)
        # Dispatched now: a checkpoint taken while the workers run shows them as running.
        for s in ready_subtasks(subtasks):
            if s["worker"]:
                s["status"] = "running"
        return {"subtasks": subtasks, "usage": meter.as_update()}

    return coordinator


def _assign(subtask: Subtask, worker: str, how: str, load: dict[str, int]) -> None:
    subtask["worker"] = worker
    load[worker] = load.get(worker, 0) + 1
    emit("assigned", subtask_id=subtask["id"], worker=worker, by=how)


async def _ask_model(
    deps: NodeDeps,
    runtime: Runtime[Any],
    config: RunnableConfig,
    subtasks: list[Subtask],
    choices: dict[str, list[str]],
    meter: UsageMeter,
) -> dict[str, str]:
    """Valid model assignments; invalid ones are retried once with feedback, then dropped."""
    model = deps.model_for("coordinator", runtime.context)
    workers = describe_workers(list(deps.registry.available.values()))
    listing = "\n".join(
        f"- {s['id']}: {s['description']} (candidates: {', '.join(choices[s['id']])})"
        for s in subtasks
        if s["id"] in choices
    )
    messages: list[Any] = [SystemMessage(SYSTEM.format(workers=workers)), HumanMessage(listing)]
    accepted: dict[str, str] = {}
    for _attempt in range(2):
        try:
            reply = await structured_call(
                model,
                Assignments,
                messages,
                attempts=1,
                meter=meter,
                config=config,
                timeout_s=deps.settings_for(runtime.context).call_timeout_s,
            )
        except StructuredOutputError as exc:
            messages = [*messages[:2], HumanMessage(f"Invalid reply: {exc}. Try again.")]
            continue
        problems = []
        for a in reply.assignments:
            if a.subtask_id not in choices or a.subtask_id in accepted:
                continue
            if a.worker in choices[a.subtask_id]:
                accepted[a.subtask_id] = a.worker
            else:
                problems.append(
                    f"{a.worker!r} is not a candidate for {a.subtask_id} "
                    f"(candidates: {', '.join(choices[a.subtask_id])})"
                )
        missing = [sid for sid in choices if sid not in accepted]
        if not missing:
            break
        messages = [
            *messages[:2],
            HumanMessage(
                "Some assignments were invalid: "
                + "; ".join(problems or ["none given"])
                + f". Assign these subtasks again: {', '.join(missing)}."
            ),
        ]
    return accepted
