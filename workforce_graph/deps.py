"""What every node of either topology needs: the workers, the models and the budgets of
the run, and :meth:`NodeDeps.ask`, the one way a node asks its role's model for a schema.

:func:`build_deps` is the set-up both factories (``build_workforce_graph``,
``build_flow_graph``) share, so their models and settings cannot drift apart.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from workforce_graph.calls.ask import CallFailure, ask
from workforce_graph.calls.errors import ServerErrorStreak
from workforce_graph.calls.usage import UsageMeter
from workforce_graph.models import ModelSet, Role
from workforce_graph.plugins import WorkerRegistry, usable_workers
from workforce_graph.settings import WorkforceSettings, factory_settings
from workforce_graph.workers import WorkerSpec

if TYPE_CHECKING:  # the MCP SDK is imported only when MCP servers are given
    from workforce_graph.mcp import McpServersSource, McpWorkers

__all__ = ["NodeDeps", "build_deps", "spent_s"]

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class NodeDeps:
    registry: WorkerRegistry
    models: ModelSet
    settings: WorkforceSettings

    def settings_for(self, context: Any) -> WorkforceSettings:
        return self.settings.overridden(context)

    def model_for(self, role: Role, context: Any) -> BaseChatModel:
        """The role's model, honouring a run's ``<role>_model`` / ``model`` override."""
        name = getattr(context, f"{role}_model", None) or getattr(context, "model", None)
        return self.models.get(name) if name else self.models.for_role(role)

    async def ask(
        self,
        role: Role,
        schema: type[T],
        messages: Sequence[BaseMessage],
        *,
        context: Any,
        config: RunnableConfig | None,
        meter: UsageMeter,
        streak: ServerErrorStreak,
        attempts: int,
        subtask_id: str | None = None,
        turn: int | None = None,
    ) -> T | CallFailure:
        """:func:`workforce_graph.calls.ask` with the role's model, structured-output
        method and call timeout for the run (``context``: the run's
        ``WorkforceContext``)."""
        settings = self.settings_for(context)
        return await ask(
            self.model_for(role, context),
            schema,
            messages,
            role=role,
            config=config,
            meter=meter,
            streak=streak,
            attempts=attempts,
            method=settings.structured_output,
            timeout_s=settings.call_timeout_s,
            subtask_id=subtask_id,
            turn=turn,
        )


def build_deps(
    factory: str,
    model: str | BaseChatModel | None,
    role_models: Mapping[str, str | BaseChatModel] | None,
    base_url: str | None,
    workers: Iterable[WorkerSpec] | None,
    plugin_manager: pluggy.PluginManager | None,
    settings: WorkforceSettings | None,
    options: dict[str, Any],
    /,
    *,
    mcp_servers: McpServersSource | McpWorkers | None = None,
) -> NodeDeps:
    """A graph factory's workers, models and settings, from its arguments of the same
    names (positional: every factory passes them through alike).

    The settings come first, so a misspelt option is reported before anything else.
    Models given by name get ``call_timeout_s`` as their HTTP client's timeout too;
    models given as instances keep their own. The servers of ``mcp_servers`` become
    workers beside ``workers`` or the plugins' (each started once here to list its
    tools; see :mod:`workforce_graph.mcp.workers`).

    Raises:
        TypeError: An option that is not a setting (named after ``factory``).
        ValueError: A setting out of bounds, no worker available, or an unusable MCP
            configuration (:class:`~workforce_graph.mcp.McpConfigError`).
    """
    run_settings = factory_settings(settings, options, factory=factory)
    extra: list[WorkerSpec] = []
    if mcp_servers is not None:
        from workforce_graph.mcp import mcp_worker_specs

        extra = mcp_worker_specs(mcp_servers)
    return NodeDeps(
        registry=usable_workers(workers, plugin_manager, extra=extra),
        models=ModelSet(
            default=model,
            roles=dict(role_models or {}),
            base_url=base_url,
            timeout_s=run_settings.call_timeout_s,
        ),
        settings=run_settings,
    )


def spent_s(state: Mapping[str, Any], started: float) -> float:
    """The run's seconds so far: what its earlier nodes spent (``elapsed_s`` in state,
    so a resumed run goes on from there) and this node's since ``started``
    (``time.perf_counter()``). Time between nodes, such as a paused plan review or a
    killed process, is not counted."""
    return float(state.get("elapsed_s") or 0.0) + time.perf_counter() - started
