"""Query analysis, once per run: what the request needs, the relevant capabilities, the
expected answer form. It also starts the run: an empty memory and fresh budgets, and
the similar past runs the planner will be shown (see :mod:`workforce_graph.past_runs`)."""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any, Literal

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime
from langgraph.types import Overwrite
from pydantic import BaseModel, Field, create_model

from workforce_graph.calls.ask import CallFailure
from workforce_graph.calls.errors import ServerErrorStreak
from workforce_graph.calls.usage import UsageMeter
from workforce_graph.deps import NodeDeps
from workforce_graph.flow.memory import cut
from workforce_graph.flow.state import Analysis, FlowState
from workforce_graph.flow.turns import fresh_run
from workforce_graph.past_runs import recall
from workforce_graph.prompts import describe_workers

__all__ = ["QueryAnalysis", "analysis_schema", "make_query_analysis"]

SYSTEM = """You analyse the request before a team of workers acts on it, turn by turn. \
Say what the request needs done, which of the workers' capability tags are relevant, \
and the form the final answer should take.

Workers:
{workers}"""


class QueryAnalysis(BaseModel):
    needs: str = Field(max_length=400, description="What the request needs done, briefly.")
    capabilities: list[str] = Field(description="Capability tags relevant to the request.")
    answer_form: str = Field(
        max_length=200, description="The form of the final answer, e.g. 'a single number'."
    )


@lru_cache(maxsize=64)
def analysis_schema(capabilities: tuple[str, ...]) -> type[QueryAnalysis]:
    """``QueryAnalysis`` whose tags are limited to those the workers offer."""
    tag = Literal[capabilities]  # type: ignore[valid-type]
    return create_model(
        "QueryAnalysis",
        __base__=QueryAnalysis,
        capabilities=(list[tag], Field(description="Capability tags relevant to the request.")),
    )


def make_query_analysis(deps: NodeDeps) -> Any:
    """Build the query-analysis node."""

    async def query_analysis(
        state: FlowState, config: RunnableConfig, runtime: Runtime[Any]
    ) -> dict[str, Any]:
        started = time.perf_counter()
        context = runtime.context
        update = fresh_run(state)
        request = update["task"]
        if not request.strip():
            return {
                **update,
                "error": "the request is empty; pass {'task': '...'} or a human message",
                "usage": Overwrite({}),
            }
        meter = UsageMeter("query_analysis")
        streak = ServerErrorStreak()  # a new run: the streak starts afresh
        available = list(deps.registry.available.values())
        parts = [f"Request:\n{request}"]
        if update["history"]:
            parts.append(f"Earlier in this conversation:\n{update['history']}")
        if state.get("answer_format"):
            parts.append(f"The answer must follow this format: {state.get('answer_format')}")
        prompt = [
            SystemMessage(SYSTEM.format(workers=describe_workers(available))),
            HumanMessage("\n\n".join(parts)),
        ]
        reply = await deps.ask(
            "query_analysis",
            analysis_schema(tuple(sorted(deps.registry.offered_capabilities()))),
            prompt,
            context=context,
            config=config,
            meter=meter,
            streak=streak,
            attempts=2,
        )
        if isinstance(reply, CallFailure):
            # The planner can work from the request alone; an analysis is a help.
            analysis = Analysis(
                needs=cut(request, 400),
                capabilities=[],
                answer_form=state.get("answer_format") or "as the request asks",
            )
        else:
            analysis = Analysis(
                needs=reply.needs.strip(),
                capabilities=list(dict.fromkeys(reply.capabilities)),
                answer_form=reply.answer_form.strip(),
            )
        past_runs = await recall(runtime.store, request, deps.settings_for(context))
        return {
            **update,
            "analysis": analysis,
            "past_runs": past_runs,
            # A run's usage starts from zero, also on a thread that had runs before.
            "usage": Overwrite(meter.as_update()),
            "elapsed_s": time.perf_counter() - started,
            "server_errors": streak.count,
        }

    return query_analysis
