"""The flow topology (AgentFlow): planner, executor and verifier over an evolving memory.

::

    START -> query_analysis -> planner -> executor -> verifier -> generator -> END
                                  ^                       |
                                  +------- CONTINUE ------+

The query analysis runs once; then each turn the planner picks a sub-goal and a worker,
the executor runs that worker and records the turn in the memory, and the verifier
says STOP or CONTINUE. Turns end on STOP or when a budget (``max_turns``,
``max_run_s``) runs out; the generator then answers, marked incomplete if a budget ended
the turns. Each node's step is checkpointed, so a resumed run goes on at the next turn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import pluggy
from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START, StateGraph

from workforce_graph.deps import build_deps
from workforce_graph.flow.nodes.analysis import make_query_analysis
from workforce_graph.flow.nodes.executor import make_executor
from workforce_graph.flow.nodes.generator import make_flow_generator
from workforce_graph.flow.nodes.planner import make_flow_planner
from workforce_graph.flow.nodes.verifier import make_flow_verifier, route_after_verifier
from workforce_graph.flow.state import FlowInput, FlowOutput, FlowState
from workforce_graph.models import FLOW_ROLES, ModelConfigError
from workforce_graph.past_runs import flow_record, remembering
from workforce_graph.settings import WorkforceContext, WorkforceSettings
from workforce_graph.sync_api import WorkforceStateGraph
from workforce_graph.workers import WorkerSpec

if TYPE_CHECKING:  # the MCP SDK is imported only when MCP servers are given
    from workforce_graph.mcp import McpServersSource, McpWorkers

__all__ = ["build_flow_graph"]


def route_after_analysis(state: FlowState) -> Literal["planner", "generator"]:
    return "generator" if state.get("error") else "planner"


def build_flow_graph(
    *,
    model: str | BaseChatModel | None = None,
    role_models: Mapping[str, str | BaseChatModel] | None = None,
    base_url: str | None = None,
    workers: Iterable[WorkerSpec] | None = None,
    plugin_manager: pluggy.PluginManager | None = None,
    mcp_servers: McpServersSource | McpWorkers | None = None,
    settings: WorkforceSettings | None = None,
    **options: Any,
) -> StateGraph[Any, Any, Any, Any]:
    """Build the flow graph, uncompiled, so you choose checkpointer, store and name.

    Args:
        model: Default model for every role (as for ``build_workforce_graph``).
        role_models: Per-role overrides: ``query_analysis``, ``planner``, ``executor``
            (the model the chosen worker thinks with), ``verifier``, ``generator``.
        base_url: An OpenAI-compatible server for model names without a provider.
        workers: Use exactly these workers instead of the installed plugins.
        plugin_manager: Collect workers from this plugin manager.
        mcp_servers: MCP servers as further workers (as for ``build_workforce_graph``).
        settings: The run options as one :class:`WorkforceSettings`.
        **options: Any field of :class:`WorkforceSettings`, applied over ``settings``.
            The flow reads ``max_turns`` (default 10), ``max_run_s`` (the turns'
            wall-clock budget, counted in state), ``memory_budget_tokens`` (the memory's
            size in the planner's and verifier's prompts), ``memory`` (similar past
            runs in the planner's prompt and this run kept, when the graph is compiled
            with a ``store``), and for each turn's worker ``subtask_timeout_s`` and
            ``max_tool_calls``. Each can also be set per run through
            :data:`WorkforceContext`.

    Returns:
        An uncompiled ``StateGraph``; input ``{"task": ...}`` or ``{"messages": [...]}``,
        output with ``answer``, ``memory`` and the answer as the last message.

    Raises:
        TypeError: An option that is not a setting.
        ValueError: A setting out of bounds, or no worker available.
        ModelConfigError: A role that the flow does not have (``coordinator``,
            ``worker``).

    Example:
        >>> from langgraph.checkpoint.memory import InMemorySaver
        >>> graph = build_flow_graph(model="openai:gpt-4o-mini").compile(
        ...     checkpointer=InMemorySaver())  # doctest: +SKIP
        >>> graph.invoke({"task": "Compare X and Y"},
        ...     {"configurable": {"thread_id": "1"}})  # doctest: +SKIP
    """
    unknown = set(role_models or {}) - set(FLOW_ROLES)
    if unknown:
        raise ModelConfigError(
            f"the flow topology has no role {', '.join(sorted(unknown))}; its roles are "
            + ", ".join(FLOW_ROLES)
        )
    deps = build_deps(
        "build_flow_graph",
        model,
        role_models,
        base_url,
        workers,
        plugin_manager,
        settings,
        options,
        mcp_servers=mcp_servers,
    )
    graph = WorkforceStateGraph(
        FlowState,
        context_schema=WorkforceContext,
        input_schema=FlowInput,
        output_schema=FlowOutput,
    )
    graph.add_node("query_analysis", make_query_analysis(deps))
    graph.add_node("planner", make_flow_planner(deps))
    graph.add_node("executor", make_executor(deps))
    graph.add_node("verifier", make_flow_verifier(deps))
    graph.add_node(
        "generator", remembering(make_flow_generator(deps), flow_record, deps.settings_for)
    )

    graph.add_edge(START, "query_analysis")
    graph.add_conditional_edges("query_analysis", route_after_analysis, ["planner", "generator"])
    graph.add_edge("planner", "executor")
    graph.add_edge("executor", "verifier")
    graph.add_conditional_edges("verifier", route_after_verifier, ["planner", "generator"])
    graph.add_edge("generator", END)
    return graph
