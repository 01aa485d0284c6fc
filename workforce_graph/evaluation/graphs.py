"""What an evaluation runs: a graph described by plain values, so any process (a Ray
worker too) can build the same graph."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel

__all__ = ["GraphSpec", "Topology"]

Topology = Literal["workforce", "flow"]


@dataclass
class GraphSpec:
    """The graph of every run of an evaluation.

    Args:
        topology: ``workforce`` (planner, coordinator, workers, verifier, generator) or
            ``flow`` (query analysis, then planner/executor/verifier turns, generator).
        model: Model name for every role (``local``, ``openai:gpt-4o``, ...).
        role_models: Per-role model names.
        base_url: An OpenAI-compatible server.
        options: Further keywords of the topology's factory (``max_replans``, ...).
        model_factory: Builds the model in the process that runs (tests, custom
            models); it must be picklable for ``--executor ray``.
        workers_factory: Builds the workers (e.g. replayed ones); default: the
            installed plugins.
    """

    topology: Topology = "workforce"
    model: str | None = None
    role_models: dict[str, str] = field(default_factory=dict)
    base_url: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    model_factory: Callable[[], BaseChatModel] | None = None
    workers_factory: Callable[[], Any] | None = None

    def describe(self) -> dict[str, Any]:
        """What identifies this graph in an evaluation's record, for resume (not the
        server's address: the same model may be served elsewhere after a restart)."""
        return {
            "topology": self.topology,
            "model": self.model,
            "role_models": dict(sorted(self.role_models.items())),
            "options": {k: self.options[k] for k in sorted(self.options)},
        }

    def build(self, checkpointer: Any = None) -> Any:
        """The compiled graph."""
        kwargs: dict[str, Any] = dict(self.options)
        model: Any = self.model_factory() if self.model_factory else self.model
        roles: Mapping[str, Any] = self.role_models
        if self.workers_factory is not None:
            kwargs["workers"] = self.workers_factory()
        if self.topology == "flow":
            try:
                from workforce_graph.flow import build_flow_graph
            except ImportError as exc:
                raise ValueError(
                    "the flow topology is not available in this workforce-graph"
                ) from exc
            factory: Any = build_flow_graph
        else:
            from workforce_graph.graph import build_workforce_graph

            factory = build_workforce_graph
        graph = factory(model=model, role_models=dict(roles), base_url=self.base_url, **kwargs)
        return graph.compile(checkpointer=checkpointer)
