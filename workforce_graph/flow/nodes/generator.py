"""Generator: the Workforce graph's generator, given the flow's finished turns.

Same prompt, same answer format handling, same honesty: when a budget ended the turns
the answer is still written, marked incomplete, and says why.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from workforce_graph.deps import NodeDeps
from workforce_graph.flow.state import FlowState
from workforce_graph.flow.turns import generator_view
from workforce_graph.generator import make_generator

__all__ = ["make_flow_generator"]


def make_flow_generator(deps: NodeDeps) -> Any:
    """Build the flow's generator node."""
    write = make_generator(deps)

    async def generator(
        state: FlowState, config: RunnableConfig, runtime: Runtime[Any]
    ) -> dict[str, Any]:
        update: dict[str, Any] = await write(generator_view(state), config, runtime)
        return update

    return generator
