"""Finding plugins and collecting the workers they register.

Built-in workers are plugins like any other (as simonw/llm ships ``default_plugins``).
Third-party plugins come from the ``workforce_graph`` entry-point group. A plugin that
fails to import, registers a duplicate name or an invalid declaration is reported with
its name and skipped; the others still load.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

import pluggy

from workforce_graph import hookspecs
from workforce_graph.workers import InvalidWorkerSpec, WorkerSpec

__all__ = [
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "PLUGINS_ENV",
    "PluginProblem",
    "WorkerRegistry",
    "collect_workers",
    "get_plugin_manager",
    "new_plugin_manager",
    "usable_workers",
]

ENTRY_POINT_GROUP = "workforce_graph"
PLUGINS_ENV = "WORKFORCE_GRAPH_PLUGINS"
"""Comma-separated plugin names; when set, only these load (built-ins included)."""

DEFAULT_PLUGINS: dict[str, str] = {
    "reasoning": "workforce_graph.default_plugins.reasoning",
    "code": "workforce_graph.default_plugins.code.plugin",
    "web": "workforce_graph.default_plugins.web",
    "documents": "workforce_graph.default_plugins.documents.plugin",
}


@dataclass(frozen=True)
class PluginProblem:
    plugin: str
    message: str

    def __str__(self) -> str:
        return f"plugin {self.plugin!r} skipped: {self.message}"


@dataclass
class WorkerRegistry:
    """The workers available to a graph, and what went wrong while collecting them."""

    workers: dict[str, WorkerSpec] = field(default_factory=dict)
    problems: list[PluginProblem] = field(default_factory=list)

    @classmethod
    def of(cls, workers: Iterable[WorkerSpec]) -> WorkerRegistry:
        """A registry of explicit workers (no plugin discovery)."""
        registry = cls()
        for spec in workers:
            registry.add(spec, plugin=spec.plugin or "<direct>")
        return registry

    def add(self, spec: Any, *, plugin: str) -> None:
        if not isinstance(spec, WorkerSpec):
            self.problems.append(PluginProblem(plugin, f"registered {spec!r}, not a WorkerSpec"))
            return
        if spec.name in self.workers:
            other = self.workers[spec.name].plugin
            self.problems.append(
                PluginProblem(
                    plugin, f"worker name {spec.name!r} is already registered by {other!r}"
                )
            )
            return
        self.workers[spec.name] = replace(spec, plugin=plugin)

    @property
    def available(self) -> dict[str, WorkerSpec]:
        return {n: w for n, w in self.workers.items() if w.available}

    def offered_capabilities(self) -> set[str]:
        return {c for w in self.available.values() for c in w.capabilities}

    def cards(self, *, include_unavailable: bool = False) -> list[dict[str, Any]]:
        specs = self.workers.values() if include_unavailable else self.available.values()
        return [w.card() for w in specs]


def _allowed() -> set[str] | None:
    raw = os.environ.get(PLUGINS_ENV)
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def new_plugin_manager(
    *, load_entry_points: bool = True, load_defaults: bool = True
) -> tuple[pluggy.PluginManager, list[PluginProblem]]:
    """A fresh plugin manager with the built-ins and the installed plugins registered.

    Returns:
        The manager and the plugins that could not be loaded.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    problems: list[PluginProblem] = []
    allowed = _allowed()

    def register(name: str, load: Any) -> None:
        if allowed is not None and name not in allowed:
            return
        try:
            module: ModuleType = load()
            pm.register(module, name=name)
        except Exception as exc:  # a broken plugin must not break the others
            problems.append(PluginProblem(name, f"{type(exc).__name__}: {exc}"))

    if load_defaults:
        for name, module_name in DEFAULT_PLUGINS.items():
            register(name, lambda m=module_name: importlib.import_module(m))
    if load_entry_points:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if pm.has_plugin(ep.name):
                problems.append(PluginProblem(ep.name, "a plugin with this name is already loaded"))
                continue
            register(ep.name, ep.load)
    return pm, problems


_lock = threading.Lock()
_default: tuple[pluggy.PluginManager, list[PluginProblem]] | None = None


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager (loaded on first use).

    Tests register a plugin object on it and unregister it afterwards.
    """
    global _default
    with _lock:
        if _default is None:
            _default = new_plugin_manager()
        return _default[0]


def _load_problems(pm: pluggy.PluginManager) -> list[PluginProblem]:
    return list(_default[1]) if _default is not None and _default[0] is pm else []


def collect_workers(pm: pluggy.PluginManager | None = None) -> WorkerRegistry:
    """Call every plugin's ``register_workers`` hook, each isolated from the others.

    Args:
        pm: A plugin manager (default: :func:`get_plugin_manager`).

    Returns:
        The registry with every valid worker and every problem met.
    """
    pm = pm or get_plugin_manager()
    registry = WorkerRegistry(problems=_load_problems(pm))
    # Registration order: built-ins first, so a plugin cannot take over a built-in name.
    for impl in pm.hook.register_workers.get_hookimpls():
        plugin = impl.plugin_name
        pending: list[Any] = []
        try:
            impl.function(register=pending.append)
        except InvalidWorkerSpec as exc:
            registry.problems.append(PluginProblem(plugin, f"invalid worker declaration: {exc}"))
            continue
        except Exception as exc:
            registry.problems.append(PluginProblem(plugin, f"{type(exc).__name__}: {exc}"))
            continue
        for spec in pending:
            registry.add(spec, plugin=plugin)
    return registry


def usable_workers(
    workers: Iterable[WorkerSpec] | None = None,
    pm: pluggy.PluginManager | None = None,
    *,
    extra: Iterable[WorkerSpec] = (),
) -> WorkerRegistry:
    """The registry a graph is built on: exactly ``workers``, else the plugins' workers,
    and ``extra`` beside them (the workers of MCP servers), each under its ``plugin``.

    Raises:
        ValueError: No worker is available (the message says why).
    """
    registry = WorkerRegistry.of(workers) if workers is not None else collect_workers(pm)
    for spec in extra:
        registry.add(spec, plugin=spec.plugin or "<direct>")
    if not registry.available:
        raise ValueError(
            "no worker is available: "
            + (
                "; ".join(str(p) for p in registry.problems)
                or "install or register a worker plugin"
            )
        )
    return registry
