"""Verifier: STOP or CONTINUE with a reason, as structured output.

AgentFlow stops whenever the verifier's reply contains the word "stop"; here the
decision is a schema field, and an unusable reply means CONTINUE (the turn budget
still bounds the run). A repeated failing action is named in the feedback by code, so
the planner's next prompt says it, whatever the model noticed. When a budget runs out
the turns end here too, with the reason.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from workforce_graph.calls.ask import CallFailure
from workforce_graph.calls.errors import ServerErrorStreak
from workforce_graph.calls.usage import UsageMeter
from workforce_graph.deps import NodeDeps
from workforce_graph.events import emit
from workforce_graph.flow.memory import record_verdict, repeated_failures
from workforce_graph.flow.nodes.prompt import situation
from workforce_graph.flow.state import Decision, FlowState
from workforce_graph.flow.turns import decide_after_turn

__all__ = ["FlowVerdict", "make_flow_verifier", "route_after_verifier"]

SYSTEM = """You are the verifier of an agent flow. Decide whether the memory of the \
turns so far holds enough to answer the request completely. Say STOP if it does; say \
CONTINUE if more work is needed, and say what is missing or wrong."""


class FlowVerdict(BaseModel):
    reason: str = Field(max_length=400, description="Why, in one or two sentences.")
    decision: Literal["STOP", "CONTINUE"] = Field(
        description="STOP: the memory answers the request. CONTINUE: more work is needed."
    )


def make_flow_verifier(deps: NodeDeps) -> Any:
    """Build the flow's verifier node."""

    async def verifier(
        state: FlowState, config: RunnableConfig, runtime: Runtime[Any]
    ) -> dict[str, Any]:
        started = time.perf_counter()
        context = runtime.context
        settings = deps.settings_for(context)
        turn = int(state.get("turn") or 0)
        memory = list(state.get("memory") or [])
        repeated = repeated_failures(memory)
        text = situation(state, settings.memory_budget_tokens)
        if repeated:
            text += "\n\n" + "\n".join(repeated)
        meter = UsageMeter("verifier")
        streak = ServerErrorStreak(int(state.get("server_errors") or 0))
        decision: Decision
        verdict = await deps.ask(
            "verifier",
            FlowVerdict,
            [SystemMessage(SYSTEM), HumanMessage(text)],
            context=context,
            config=config,
            meter=meter,
            streak=streak,
            attempts=2,
            subtask_id=f"t{turn}",
            turn=turn,
        )
        if isinstance(verdict, CallFailure):
            decision, reason = "continue", f"the verifier's reply was unusable ({verdict.reason})"
        else:
            decision = "stop" if verdict.decision == "STOP" else "continue"
            reason = verdict.reason.strip()
        feedback = " ".join([reason, *repeated]).strip()
        elapsed = float(state.get("elapsed_s") or 0.0) + time.perf_counter() - started
        stop, stop_reason = decide_after_turn(
            decision,
            turn=turn,
            max_turns=settings.max_turns,
            elapsed_s=elapsed,
            max_run_s=settings.max_run_s,
        )
        emit(
            "verdict",
            turn=turn,
            subtask_id=f"t{turn}",
            verdict=decision,
            reason=feedback,
            stop=stop,
            stop_reason=stop_reason,
        )
        return {
            "memory": record_verdict(memory, decision, feedback),
            "stop": stop,
            "stop_reason": stop_reason,
            "usage": meter.as_update(),
            "elapsed_s": elapsed,
            "server_errors": streak.count,
        }

    return verifier


def route_after_verifier(state: FlowState) -> Literal["planner", "generator"]:
    return "generator" if state.get("stop") else "planner"
