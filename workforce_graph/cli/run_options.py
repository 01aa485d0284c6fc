"""A run's options, stored with it so ``resume`` continues it the same way, and the
graph they build."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from workforce_graph.cli.errors import CliError
from workforce_graph.cli.options import role_model_flag
from workforce_graph.evaluation.graphs import Topology
from workforce_graph.models import BASE_URL_ENV, ModelSet
from workforce_graph.settings import WorkforceContext, WorkforceSettings
from workforce_graph.topologies import DEFAULT_TOPOLOGY, get_topology

if TYPE_CHECKING:
    from workforce_graph.mcp import McpWorkers

__all__ = ["RunOptions", "Topology", "build_graph", "resolve_models", "topology_role_models"]


_LEGACY_SETTINGS = {
    "max_replans": "max_replans",
    "max_concurrency": "max_concurrency",
    "timeout_s": "subtask_timeout_s",
}
"""Settings that runs stored before ``settings`` existed kept at the top level."""


@dataclass
class RunOptions:
    """The options of a run, stored with it so ``resume`` continues it the same way."""

    model: str | None = None
    role_models: dict[str, str] = field(default_factory=dict)
    base_url: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    """Overrides of :class:`WorkforceSettings` given for this run, by setting name."""
    approve_plan: bool = False
    topology: Topology = DEFAULT_TOPOLOGY
    record: str | None = None
    """A folder to record the run's trajectory in (``trajectories.jsonl``)."""
    mcp: str | None = None
    """An ``mcpServers`` configuration file whose servers are workers too (``--mcp``)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunOptions:
        known = {f.name for f in fields(cls)}
        options = cls(**{k: v for k, v in data.items() if k in known})
        for old, name in _LEGACY_SETTINGS.items():
            if data.get(old) is not None:
                options.settings.setdefault(name, data[old])
        return options

    def over(self, stored: RunOptions) -> RunOptions:
        """These options where given, else the stored ones (for ``resume``)."""
        return RunOptions(
            model=self.model or stored.model,
            role_models={**stored.role_models, **self.role_models},
            base_url=self.base_url or stored.base_url,
            settings={**stored.settings, **self.settings},
            approve_plan=self.approve_plan or stored.approve_plan,
            # A run continues in the topology it started in.
            topology=stored.topology,
            record=self.record or stored.record,
            mcp=self.mcp or stored.mcp,
        )

    def context(self) -> Any:
        """Per-run setting overrides, passed to the graph as its runtime context."""
        return WorkforceContext(**self.settings)

    def effective_call_timeout(self) -> float:
        return float(self.settings.get("call_timeout_s") or WorkforceSettings().call_timeout_s)

    def effective_base_url(self) -> str | None:
        return self.base_url or os.environ.get(BASE_URL_ENV) or None


def resolve_models(options: RunOptions) -> dict[str, Any]:
    """Resolve every role's model once, up front, so a configuration error shows first.

    Returns:
        Chat models by role (roles naming the same model share one instance).

    Raises:
        ModelConfigError: A model cannot be set up (one-line message).
    """
    models = ModelSet(
        default=options.model,
        roles=topology_role_models(options),
        base_url=options.base_url,
        timeout_s=options.effective_call_timeout(),
    )
    roles = get_topology(options.topology).roles
    models.check(roles)
    return {role: models.for_role(role) for role in roles}


def topology_role_models(options: RunOptions) -> dict[str, str]:
    """The CLI's per-role models as the run's topology names its roles: an alias
    resolved (in the flow, ``--worker-model`` is the executor's).

    Raises:
        CliError: A model was given for a role the topology does not have (the flow
            has no coordinator).
        UnknownTopology: The run's topology is not in the table.
    """
    spec = get_topology(options.topology)
    roles: dict[str, str] = {}
    for given, name in options.role_models.items():
        own = spec.own_role(given)
        if own is None:
            raise CliError(f"{role_model_flag(given)}: the {spec.name} topology has no {given}")
        roles[own] = name
    return roles


def build_graph(
    options: RunOptions,
    checkpointer: Any,
    role_models: Mapping[str, Any] | None = None,
    store: Any = None,
    *,
    mcp: McpWorkers | None = None,
) -> Any:
    """Compile the graph for a run.

    Args:
        options: The run's options.
        checkpointer: Where the run is kept.
        role_models: Models from :func:`resolve_models`; ``None`` for reading state
            only (``show``, ``graph``), which needs no model.
        store: The LangGraph store of the memory of past runs (the run database's);
            ``None``: no memory.
        mcp: The workers of the run's MCP servers (``--mcp``), already started once.

    Returns:
        The compiled graph.

    Raises:
        CliError: No worker is available.
    """
    spec = get_topology(options.topology)
    if options.approve_plan and not spec.plan_review:
        raise CliError(
            f"--approve-plan: the {spec.name} topology plans turn by turn, not a whole plan"
        )
    kwargs: dict[str, Any] = {"model": options.model}
    if mcp is not None:
        kwargs["mcp_servers"] = mcp
    if spec.plan_review:
        kwargs["approve_plan"] = options.approve_plan
    if role_models is not None:
        worker = spec.own_role("worker")
        kwargs.update(role_models=dict(role_models))
        if worker is not None:
            kwargs["model"] = role_models[worker]
    try:
        builder = spec.factory(**kwargs)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    return builder.compile(checkpointer=checkpointer, store=store)
