"""Planner, every turn: the next sub-goal, the worker to do it and the context to pass.

Its prompt is rebuilt fresh each turn from the request, the analysis and the budgeted
memory, never by appending to a growing chat, and each turn is exactly one
structured-output call: every turn is then a clean training sample (prompt in, next
step out). A reply that is not a usable step becomes a failed turn in the memory,
which the next turn's prompt shows; it is not repaired in the same turn.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field, create_model

from workforce_graph.calls.ask import CallFailure
from workforce_graph.calls.errors import ServerErrorStreak
from workforce_graph.calls.usage import UsageMeter
from workforce_graph.deps import NodeDeps
from workforce_graph.events import emit
from workforce_graph.flow.nodes.prompt import situation
from workforce_graph.flow.state import FlowState, NextStep
from workforce_graph.prompts import describe_workers
from workforce_graph.workers import WorkerSpec

__all__ = ["NextStepReply", "make_flow_planner", "next_step_schema", "planner_prompt"]

SYSTEM = """You are the planner of an agent flow. Turn by turn you choose the next \
sub-goal towards answering the request, the worker that should do it, and the context \
that worker needs: it sees only the sub-goal and that context. Build on the results in \
the memory; never repeat a step that failed, choose another worker or another sub-goal. \
Choose only a worker listed below.

Workers:
{workers}"""


class NextStepReply(BaseModel):
    justification: str = Field(max_length=400, description="Why this step, given the memory.")
    context: str = Field(
        default="",
        max_length=800,
        description="What the worker needs from the memory: results, names, numbers.",
    )
    sub_goal: str = Field(
        min_length=1, max_length=400, description="The one thing to do this turn."
    )
    worker: str = Field(description="Name of the worker to do it.")


@lru_cache(maxsize=64)
def next_step_schema(workers: tuple[str, ...]) -> type[NextStepReply]:
    """``NextStepReply`` whose schema lists the workers by name.

    Only the schema carries the list (a constrained decoder cannot leave it); the
    reply is not rejected for another name: the executor turns it into a failed turn
    that the next planner turn sees.
    """
    return create_model(
        "NextStep",
        __base__=NextStepReply,
        worker=(
            str,
            Field(
                description="Name of the worker to do it.",
                json_schema_extra={"enum": list(workers)},
            ),
        ),
    )


def planner_prompt(
    state: FlowState, workers: list[WorkerSpec], *, turn: int, max_turns: int, budget: int
) -> list[BaseMessage]:
    """The planner's prompt for ``turn``, built from scratch (with the similar past runs
    the query analysis recalled, when there are any)."""
    past_runs = state.get("past_runs")
    return [
        SystemMessage(SYSTEM.format(workers=describe_workers(workers))),
        HumanMessage(
            f"{situation(state, budget)}\n\n"
            + (f"{past_runs}\n\n" if past_runs else "")
            + f"Turn {turn} of at most {max_turns}: choose the next step."
        ),
    ]


def make_flow_planner(deps: NodeDeps) -> Any:
    """Build the flow's planner node."""

    async def planner(
        state: FlowState, config: RunnableConfig, runtime: Runtime[Any]
    ) -> dict[str, Any]:
        started = time.perf_counter()
        context = runtime.context
        settings = deps.settings_for(context)
        turn = int(state.get("turn") or 0) + 1
        available = list(deps.registry.available.values())
        meter = UsageMeter("planner")
        streak = ServerErrorStreak(int(state.get("server_errors") or 0))
        prompt = planner_prompt(
            state,
            available,
            turn=turn,
            max_turns=settings.max_turns,
            budget=settings.memory_budget_tokens,
        )
        reply = await deps.ask(
            "planner",
            next_step_schema(tuple(s.name for s in available)),
            prompt,
            context=context,
            config=config,
            meter=meter,
            streak=streak,
            attempts=1,
            subtask_id=f"t{turn}",
            turn=turn,
        )
        if isinstance(reply, CallFailure):
            step = NextStep(
                turn=turn,
                sub_goal="",
                worker="",
                context="",
                justification="",
                error=f"the planner's reply was not a usable next step: {reply.reason}",
            )
        else:
            step = NextStep(
                turn=turn,
                sub_goal=reply.sub_goal.strip(),
                worker=reply.worker.strip(),
                context=reply.context.strip(),
                justification=reply.justification.strip(),
                error=None,
            )
        emit(
            "turn",
            turn=turn,
            subtask_id=f"t{turn}",
            sub_goal=step["sub_goal"],
            worker=step["worker"],
            error=step["error"],
        )
        return {
            "step": step,
            "turn": turn,
            "usage": meter.as_update(),
            "elapsed_s": float(state.get("elapsed_s") or 0.0) + time.perf_counter() - started,
            "server_errors": streak.count,
        }

    return planner
