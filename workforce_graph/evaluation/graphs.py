"""What an evaluation runs: a graph described by plain values, so any process (a Ray
worker too) can build the same graph."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.language_models import BaseChatModel

from workforce_graph.topologies import DEFAULT_TOPOLOGY, get_topology

__all__ = ["GraphSpec", "Topology"]

Topology = str
"""A topology's name: a key of :data:`workforce_graph.topologies.TOPOLOGIES`."""


@dataclass
class GraphSpec:
    """The graph of every run of an evaluation.

    Args:
        topology: A name in :data:`~workforce_graph.topologies.TOPOLOGIES`: ``workforce``
            (planner, coordinator, workers, verifier, generator) or ``flow`` (query
            analysis, then planner/executor/verifier turns, generator).
        model: Model name for every role (``local``, ``openai:gpt-4o``, ...).
        role_models: Per-role model names.
        base_url: An OpenAI-compatible server.
        options: Further keywords of the topology's factory (``max_replans``, ...).
        model_factory: Builds the model in the process that runs (tests, custom
            models); it must be picklable for ``--executor ray``.
        workers_factory: Builds the workers (e.g. replayed ones); default: the
            installed plugins.
        temperature: Sampling temperature of every model of the run; 0 (the default)
            leaves each model as its name builds it (greedy for ``local``).
        seed: Seed of that sampling; sample ``k`` of a task uses ``seed + k`` (see
            :meth:`for_sample`), so sampled runs differ and each one reproduces.
    """

    topology: Topology = DEFAULT_TOPOLOGY
    model: str | None = None
    role_models: dict[str, str] = field(default_factory=dict)
    base_url: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    model_factory: Callable[[], BaseChatModel] | None = None
    workers_factory: Callable[[], Any] | None = None
    temperature: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        get_topology(self.topology)  # an unknown name fails here, naming the known ones

    @property
    def memory(self) -> bool:
        """Whether its runs use the memory of past runs (only when asked: ``memory=True``
        in ``options``); an evaluation otherwise starts with none."""
        return self.options.get("memory") is True

    @property
    def sampling(self) -> bool:
        """Whether the run sets its models' sampling (else they stay as built)."""
        return self.temperature > 0 or self.seed is not None

    def sample_seed(self, sample: int) -> int | None:
        """The seed of sample ``sample``: ``seed + sample`` (``seed`` 0 when only a
        temperature was given, so samples still differ); ``None`` when not sampling."""
        return (self.seed or 0) + sample if self.sampling else None

    def for_sample(self, sample: int) -> GraphSpec:
        """The graph of one sample: its own seed, everything else the same."""
        return replace(self, seed=self.sample_seed(sample)) if self.sampling else self

    def describe(self) -> dict[str, Any]:
        """What identifies this graph in an evaluation's record, for resume (not the
        server's address: the same model may be served elsewhere after a restart)."""
        described: dict[str, Any] = {
            "topology": self.topology,
            "model": self.model,
            "role_models": dict(sorted(self.role_models.items())),
            "options": {k: self.options[k] for k in sorted(self.options)},
        }
        if self.sampling:  # only then: folders of greedy evaluations keep resuming
            described.update(temperature=self.temperature, seed=self.seed)
        return described

    def build(self, checkpointer: Any = None, store: Any = None) -> Any:
        """The compiled graph; with :attr:`memory`, on ``store`` (a LangGraph store),
        else on none, so no past run is read or written."""
        kwargs: dict[str, Any] = dict(self.options)
        model: Any = self.model_factory() if self.model_factory else self.model
        roles: Mapping[str, Any] = self.role_models
        if self.sampling:
            model, roles = self.sampled_models(model)
        if self.workers_factory is not None:
            kwargs["workers"] = self.workers_factory()
        try:
            factory = get_topology(self.topology).factory
        except ImportError as exc:
            raise ValueError(
                f"the {self.topology} topology is not available in this workforce-graph"
            ) from exc
        graph = factory(model=model, role_models=dict(roles), base_url=self.base_url, **kwargs)
        return graph.compile(checkpointer=checkpointer, store=store if self.memory else None)

    def sampled_models(self, default: Any = None) -> tuple[Any, dict[str, BaseChatModel]]:
        """The default and every role's model as :meth:`build` gives them to the graph
        when sampling: resolved here (the graph would resolve names itself) so the
        sampling can be set on them; roles naming the same model share one copy.

        Args:
            default: The default model, a name or a model (default: :attr:`model`, or the
                factory's model). Given by name it stays a name: with every role set,
                the graph never resolves it.
        """
        if default is None:
            default = self.model_factory() if self.model_factory else self.model
        from workforce_graph.models import ModelSet
        from workforce_graph.settings import WorkforceSettings

        timeout = self.options.get("call_timeout_s") or WorkforceSettings().call_timeout_s
        models = ModelSet(
            default=default, roles=self.role_models, base_url=self.base_url, timeout_s=timeout
        )
        copies: dict[int, BaseChatModel] = {}

        def sampled(model: BaseChatModel) -> BaseChatModel:
            if id(model) not in copies:
                copies[id(model)] = _with_sampling(model, self.temperature, self.seed)
            return copies[id(model)]

        by_role: dict[str, BaseChatModel] = {
            role: sampled(models.for_role(role)) for role in get_topology(self.topology).roles
        }
        return (sampled(default) if isinstance(default, BaseChatModel) else default), by_role


def _with_sampling(model: BaseChatModel, temperature: float, seed: int | None) -> BaseChatModel:
    """A copy of ``model`` sampling at ``temperature`` with ``seed``.

    A copy, not a new model: an in-process model's copy shares the loaded weights, and
    a client's copy its connection. A model without a seed field (some providers have
    none) samples unseeded; one without a temperature cannot sample as asked.
    """
    fields = type(model).model_fields
    if "temperature" not in fields:
        name = getattr(model, "model_name", None) or type(model).__name__
        raise ValueError(
            f"model {name} has no temperature to set; run it without --temperature and --seed"
        )
    update: dict[str, Any] = {"temperature": temperature}
    if seed is not None and "seed" in fields:
        update["seed"] = seed
    return model.model_copy(update=update)
