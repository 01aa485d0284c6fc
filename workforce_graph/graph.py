"""The Workforce graph: planner, coordinator, workers, verifier, generator.

::

    START -> planner -> coordinator -> workers -> verifier -> generator -> END
                ^            ^                        |
                |            +------ dispatch --------+
                +------------------- replan ----------+
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import pluggy
from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START, StateGraph

from workforce_graph.deps import build_deps
from workforce_graph.generator import make_generator
from workforce_graph.nodes.coordinator import make_coordinator
from workforce_graph.nodes.execution import make_workers_node
from workforce_graph.nodes.planner import make_planner
from workforce_graph.nodes.review import make_plan_review
from workforce_graph.nodes.verifier import make_verifier, route_after_verification
from workforce_graph.past_runs import remembering, workforce_record
from workforce_graph.settings import WorkforceContext, WorkforceSettings
from workforce_graph.state import WorkforceInput, WorkforceOutput, WorkforceState
from workforce_graph.sync_api import WorkforceStateGraph
from workforce_graph.workers import WorkerSpec

if TYPE_CHECKING:  # the MCP SDK is imported only when MCP servers are given
    from workforce_graph.mcp import McpServersSource, McpWorkers

__all__ = ["build_workforce_graph"]


def route_after_planning(state: WorkforceState) -> Literal["coordinator", "generator"]:
    return "generator" if state.get("error") else "coordinator"


def build_workforce_graph(
    *,
    model: str | BaseChatModel | None = None,
    role_models: Mapping[str, str | BaseChatModel] | None = None,
    base_url: str | None = None,
    workers: Iterable[WorkerSpec] | None = None,
    plugin_manager: pluggy.PluginManager | None = None,
    mcp_servers: McpServersSource | McpWorkers | None = None,
    approve_plan: bool = False,
    settings: WorkforceSettings | None = None,
    **options: Any,
) -> StateGraph[Any, Any, Any, Any]:
    """Build the Workforce graph, uncompiled, so you choose checkpointer, store and name.

    Args:
        model: Default model for every role: a chat model or a name such as
            ``"openai:gpt-4o"``, ``"local"`` or ``"gguf:/path/model.gguf"``
            (default: ``$WORKFORCE_GRAPH_MODEL``, else ``local``).
        role_models: Per-role overrides: ``planner``, ``coordinator``, ``worker``,
            ``verifier``, ``generator``.
        base_url: An OpenAI-compatible server for model names without a provider.
        workers: Use exactly these workers instead of the installed plugins.
        plugin_manager: Collect workers from this plugin manager (default: the
            process-wide one, with built-ins and installed plugins).
        mcp_servers: MCP servers as further workers, one per server: an
            ``mcpServers`` configuration (a JSON file's path or the mapping) or
            :class:`~workforce_graph.mcp.McpWorkers` already loaded (see
            docs/workers.md, "MCP servers as workers").
        approve_plan: Pause after each plan (replans included) for a person to
            approve, edit or reject it (node ``review_plan``; needs a checkpointer;
            see ``workforce_graph.nodes.review``).
        settings: The run options as one :class:`WorkforceSettings`.
        **options: Any field of :class:`WorkforceSettings` (``max_replans``,
            ``max_retries``, ``max_concurrency``, ``subtask_timeout_s``,
            ``max_tool_calls``, ``max_plan_attempts``, ``max_subtasks``,
            ``verify_results``, ``max_run_s`` (the whole run's seconds, counted in
            state), ``memory`` (past runs shown to the planner and this run kept, when
            the graph is compiled with a ``store``), ...), applied over ``settings``.
            Each can also be set per run through :data:`WorkforceContext`.

    Returns:
        An uncompiled ``StateGraph``; input ``{"task": ...}`` or ``{"messages": [...]}``,
        output with ``answer`` and the answer as the last message. Its compiled graph
        offers the synchronous ``invoke`` and ``stream`` too. The input may carry a
        ``plan`` (``{"subtasks": [...]}``, the planner's shape) to run without planning,
        and ``variables`` for its ``{placeholders}`` (see
        :mod:`workforce_graph.plan_template`).

    Raises:
        TypeError: An option that is not a setting.
        ValueError: A setting out of bounds, or no worker available.

    A run raises :class:`~workforce_graph.calls.errors.ServerUnavailableError` (a
    ``ModelConfigError``) when three model calls in a row failed with HTTP 429 or 5xx.
    A given plan that is invalid raises
    :class:`~workforce_graph.plan_template.GivenPlanError` (every problem listed), and
    one whose placeholders do not match ``variables``
    :class:`~workforce_graph.plan_template.PlanTemplateError`, before any worker runs.

    Example:
        >>> from langgraph.checkpoint.memory import InMemorySaver
        >>> graph = build_workforce_graph(model="openai:gpt-4o-mini").compile(
        ...     checkpointer=InMemorySaver())  # doctest: +SKIP
        >>> await graph.ainvoke({"task": "Compare X and Y"},
        ...     {"configurable": {"thread_id": "1"}})  # doctest: +SKIP
    """
    deps = build_deps(
        "build_workforce_graph",
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
        WorkforceState,
        context_schema=WorkforceContext,
        input_schema=WorkforceInput,
        output_schema=WorkforceOutput,
    )
    graph.add_node("planner", make_planner(deps))
    graph.add_node("coordinator", make_coordinator(deps))
    graph.add_node("workers", make_workers_node(deps))
    graph.add_node("verifier", make_verifier(deps))
    graph.add_node(
        "generator", remembering(make_generator(deps), workforce_record, deps.settings_for)
    )

    graph.add_edge(START, "planner")
    if approve_plan:
        graph.add_node(
            "review_plan", make_plan_review(deps), destinations=("coordinator", "planner")
        )
        graph.add_conditional_edges(
            "planner",
            route_after_planning,
            {"coordinator": "review_plan", "generator": "generator"},
        )
    else:
        graph.add_conditional_edges("planner", route_after_planning, ["coordinator", "generator"])
    graph.add_edge("coordinator", "workers")
    graph.add_edge("workers", "verifier")
    graph.add_conditional_edges(
        "verifier", route_after_verification, ["coordinator", "planner", "generator"]
    )
    graph.add_edge("generator", END)
    return graph
