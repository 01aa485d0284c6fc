"""The topologies in one table: each one's name, factory, model roles and role aliases.

The CLI's ``--topology`` choices and ``--ROLE-model`` options, the evaluation's
``GraphSpec.topology``, the training loop's ``topology`` and the role of every model call
are read from :data:`TOPOLOGIES`, as the run options are read from
:class:`~workforce_graph.settings.WorkforceSettings`: a topology added here is offered
everywhere, and code asks an entry what it does instead of comparing names.

Example:
    >>> TOPOLOGIES["flow"].roles
    ('query_analysis', 'planner', 'executor', 'verifier', 'generator')
    >>> TOPOLOGIES["flow"].own_role("worker")
    'executor'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

__all__ = [
    "DEFAULT_TOPOLOGY",
    "MODEL_ROLES",
    "TOPOLOGIES",
    "Role",
    "TopologySpec",
    "UnknownTopology",
    "get_topology",
]

Role = Literal[
    "planner", "coordinator", "worker", "verifier", "generator", "query_analysis", "executor"
]
"""Every model role of every topology; each entry's ``roles`` says which are its own."""

MODEL_ROLES: Mapping[Role, str] = MappingProxyType(
    {
        "planner": "the planner",
        "coordinator": "the coordinator",
        "worker": "the workers",
        "verifier": "the verifier",
        "generator": "the generator",
        "query_analysis": "the flow's query analysis",
        "executor": "the flow's executor (the model its worker thinks with)",
    }
)
"""What each role's model does, for help texts (``--planner-model``: Model for the planner.)."""


class UnknownTopology(ValueError, LookupError):
    """A topology name that is not in :data:`TOPOLOGIES`; the message lists the known ones.

    A ``LookupError`` too, so the CLI shows it as one line and exits 2, as it does for
    any name it cannot find.
    """


@dataclass(frozen=True)
class TopologySpec:
    """One topology: what builds it and what differs between topologies.

    Args:
        name: What the CLI, the evaluation and the training call it.
        summary: One phrase for help texts.
        factory_path: ``module:function`` of its graph factory, imported on first use
            (the factories import the whole graph, which imports this table).
        roles: Its model roles, each a key of the factory's ``role_models``.
        aliases: Role names of other topologies that mean one of its own roles, so one
            option serves both (``worker`` is the flow's ``executor``).
        plan_review: Whether it makes a whole plan a person can review (``approve_plan``).
        turn_by_turn: Whether it plans one turn at a time (``max_turns``; its plan is
            the planner's decisions, not a list of subtasks).
    """

    name: str
    summary: str
    factory_path: str
    roles: tuple[Role, ...]
    aliases: Mapping[str, Role] = field(default_factory=dict)
    plan_review: bool = False
    turn_by_turn: bool = False

    @property
    def factory(self) -> Callable[..., Any]:
        """The graph factory (``build_workforce_graph``, ``build_flow_graph``)."""
        module, _, function = self.factory_path.partition(":")
        built: Callable[..., Any] = getattr(importlib.import_module(module), function)
        return built

    def own_role(self, role: str) -> Role | None:
        """``role`` as this topology names it (an alias resolved); ``None`` if it has none."""
        mapped = self.aliases.get(role, role)
        return next((own for own in self.roles if own == mapped), None)


TOPOLOGIES: Mapping[str, TopologySpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            TopologySpec(
                name="workforce",
                summary="plan a DAG of subtasks, run them in parallel",
                factory_path="workforce_graph.graph:build_workforce_graph",
                roles=("planner", "coordinator", "worker", "verifier", "generator"),
                plan_review=True,
            ),
            TopologySpec(
                name="flow",
                summary="turn by turn, one worker a turn over an evolving memory",
                factory_path="workforce_graph.flow.graph:build_flow_graph",
                roles=("query_analysis", "planner", "executor", "verifier", "generator"),
                aliases={"worker": "executor"},
                turn_by_turn=True,
            ),
        )
    }
)
"""Every topology by name; the first is the default."""

DEFAULT_TOPOLOGY = next(iter(TOPOLOGIES))


def get_topology(name: str) -> TopologySpec:
    """The topology called ``name``.

    Raises:
        UnknownTopology: No topology has that name (one line naming the known ones).
    """
    try:
        return TOPOLOGIES[name]
    except KeyError:
        raise UnknownTopology(
            f"unknown topology {name!r}; the topologies are {', '.join(TOPOLOGIES)}"
        ) from None
