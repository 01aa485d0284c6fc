"""The hooks a workforce-graph plugin can implement.

Plugins are found through the ``workforce_graph`` entry-point group. A plugin module
implements hooks with the :data:`hookimpl` marker::

    from workforce_graph import WorkerSpec, hookimpl

    @hookimpl
    def register_workers(register):
        register(WorkerSpec(name="finance", description="...", capabilities=["finance"]))
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from workforce_graph.workers import WorkerSpec

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec", "register_workers"]

PROJECT_NAME = "workforce_graph"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_workers(register: Callable[[WorkerSpec], None]) -> None:
    """Register workers by calling ``register(WorkerSpec(...))`` once per worker."""
