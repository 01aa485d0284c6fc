"""``--executor ray``: runs spread over a Ray cluster, each durable in a shared
PostgreSQL checkpointer, results gathered by the driver (which alone writes files).

A run whose worker dies is resubmitted by Ray (``max_retries``); its thread's
checkpoint lets it continue rather than start over. ``ray_address`` joins a cluster
(``ray://host:10001`` or ``auto``); without it a local instance is started.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from workforce_graph.evaluation.errors import EvalError
from workforce_graph.evaluation.unit import UnitRun, UnitSpec, run_unit

__all__ = ["RayEvaluation", "run_on_ray"]


class RayEvaluation(Protocol):
    """What of an :class:`~workforce_graph.evaluation.runner.Evaluation` the executor
    reads (a protocol, so the runner that calls it is not imported back)."""

    @property
    def graph(self) -> Any: ...
    @property
    def db(self) -> str | None: ...
    @property
    def concurrency(self) -> int: ...
    @property
    def timeout_s(self) -> float | None: ...
    @property
    def blocklist(self) -> tuple[str, ...]: ...
    @property
    def ray_address(self) -> str | None: ...


def _run_remote(
    graph_spec: Any, unit: UnitSpec, db: str, timeout_s: float | None, blocklist: Any
) -> UnitRun:
    from workforce_graph.persistence import open_run_store

    async def main() -> UnitRun:
        async with open_run_store(db) as opened:
            graph = graph_spec.build(opened.checkpointer, opened.store)
            return await run_unit(
                graph, unit, topology=graph_spec.topology, timeout_s=timeout_s, blocklist=blocklist
            )

    return asyncio.run(main())


def _gather(
    evaluation: RayEvaluation, pending: list[UnitSpec], store: Callable[[UnitRun], Any]
) -> list[Any]:
    import ray

    if not ray.is_initialized():
        ray.init(address=evaluation.ray_address, ignore_reinit_error=True, log_to_driver=False)
    remote = ray.remote(max_retries=2)(_run_remote)
    db = evaluation.db or ""
    queue = list(pending)
    in_flight: list[Any] = []
    finished: list[Any] = []
    while queue or in_flight:
        while queue and len(in_flight) < evaluation.concurrency:
            unit = queue.pop(0)
            in_flight.append(
                remote.remote(
                    evaluation.graph.for_sample(unit.sample),  # its own seed when sampling
                    unit,
                    db,
                    evaluation.timeout_s,
                    evaluation.blocklist,
                )
            )
        done, in_flight = ray.wait(in_flight, num_returns=1)
        # Stored as each arrives, so a driver stopped midway loses no finished run.
        finished.extend(store(run) for run in ray.get(done))
    return finished


async def run_on_ray(
    evaluation: RayEvaluation, pending: list[UnitSpec], store: Callable[[UnitRun], Any]
) -> list[Any]:
    """Run ``pending`` on Ray with at most ``evaluation.concurrency`` runs in flight;
    ``store`` each result as it arrives and return what it returned."""
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        raise EvalError("--executor ray needs Ray: pip install 'workforce-graph[ray]'") from exc
    return await asyncio.to_thread(_gather, evaluation, pending, store)
