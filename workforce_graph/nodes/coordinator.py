"""Coordinator: each pending subtask gets a worker whose declared capabilities fit.

When exactly one worker fits, no model is asked. When several fit, one model call
assigns all such subtasks at once; an answer naming a worker that is unknown or does not
fit goes back once with feedback, then deterministic capability matching decides.
"""

from __future__ import annotations

import time
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime
from pydantic import BaseModel

from workforce_graph.calls.ask import CallFailure
from workforce_graph.calls.errors import ServerErrorStreak
from workforce_graph.calls.usage import UsageMeter
from workforce_graph.deps import NodeDeps, spent_s
from workforce_graph.events import emit
from workforce_graph.lifecycle import Subtask, assign, fail_unassignable, mark_dispatched
from workforce_graph.plugins import WorkerRegistry
from workforce_graph.prompts import describe_workers
from workforce_graph.state import WorkforceState

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
        started = time.perf_counter()
        subtasks = {s["id"]: s for s in state.get("subtasks", [])}
        registry = deps.registry
        meter = UsageMeter("coordinator")
        streak = ServerErrorStreak(int(state.get("server_errors") or 0))
        load: dict[str, int] = {}
        choices: dict[str, list[str]] = {}

        def give(sid: str, worker: str, how: str) -> None:
            subtasks[sid] = assign(subtasks[sid], worker)
            load[worker] = load.get(worker, 0) + 1
            emit("assigned", subtask_id=sid, worker=worker, by=how)

        for s in list(subtasks.values()):
            if s["status"] != "pending" or (s["worker"] in registry.available):
                continue
            candidates = candidates_for(s, registry)
            if len(candidates) == 1:
                give(s["id"], candidates[0], "capability match")
            elif candidates:
                choices[s["id"]] = candidates
            else:
                failed = fail_unassignable(
                    s, "no available worker offers " + ", ".join(s["capabilities"])
                )
                subtasks[s["id"]] = failed
                emit("failed", subtask_id=s["id"], worker=None, reason=failed["failure_reason"])
        if choices:
            # Capability matching can still assign every subtask the model did not.
            picked = await _ask_model(
                deps, runtime, config, list(subtasks.values()), choices, meter, streak
            )
            for sid, candidates in choices.items():
                if sid in picked:
                    give(sid, picked[sid], "model")
                else:
                    fallback = min(candidates, key=lambda n: (load.get(n, 0), n))
                    give(sid, fallback, "capability match (fallback)")
        # Dispatched now: a checkpoint taken while the workers run shows them as running.
        return {
            "subtasks": mark_dispatched(list(subtasks.values())),
            "usage": meter.as_update(),
            "server_errors": streak.count,
            "elapsed_s": spent_s(state, started),
        }

    return coordinator


async def _ask_model(
    deps: NodeDeps,
    runtime: Runtime[Any],
    config: RunnableConfig,
    subtasks: list[Subtask],
    choices: dict[str, list[str]],
    meter: UsageMeter,
    streak: ServerErrorStreak,
) -> dict[str, str]:
    """Valid model assignments; invalid ones are retried once with feedback, then dropped.

    Empty when a call failed (the ``call_failed`` event says why), even if an earlier
    reply gave some: the coordinator then matches every choice by capability."""
    workers = describe_workers(list(deps.registry.available.values()))
    listing = "\n".join(
        f"- {s['id']}: {s['description']} (candidates: {', '.join(choices[s['id']])})"
        for s in subtasks
        if s["id"] in choices
    )
    messages: list[Any] = [SystemMessage(SYSTEM.format(workers=workers)), HumanMessage(listing)]
    accepted: dict[str, str] = {}
    for _attempt in range(2):
        reply = await deps.ask(
            "coordinator",
            Assignments,
            messages,
            context=runtime.context,
            config=config,
            meter=meter,
            streak=streak,
            attempts=1,
        )
        if isinstance(reply, CallFailure):
            if not reply.answered:
                return {}  # the call failed: every choice falls back to capability matching
            messages = [*messages[:2], HumanMessage(f"Invalid reply: {reply.detail}. Try again.")]
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
