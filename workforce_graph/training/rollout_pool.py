"""Running an iteration's rollouts N at once, in this process or on Ray.

The rollouts are an evaluation (:class:`~workforce_graph.evaluation.runner.Evaluation`:
resumable, one scored row and one trajectory per run) with two additions for training:
every run records the policy version that made it (``policy_version`` in the result row
and the trajectory's ``meta``), and a run whose planner calls met a failing rollout
server (no answer, HTTP 5xx) is not stored: it fails the iteration with
:class:`~workforce_graph.training.served_policy.RolloutServerError`, the runs finished
before it stay on disk and the next start makes only the others.

``executor="ray"`` reuses the evaluation's Ray executor
(:mod:`workforce_graph.evaluation.ray_executor`): runs go to Ray workers, durable in a
shared PostgreSQL checkpointer (``db``), results gathered by this process, which alone
writes files. With a served planner the workers only need the server's address.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from workforce_graph.evaluation.datasets.base import EvalDataset, EvalTask
from workforce_graph.evaluation.graphs import GraphSpec
from workforce_graph.evaluation.runner import (
    RESULTS,
    Evaluation,
    read_rows,
    score_run,
)
from workforce_graph.evaluation.unit import UnitRun, UnitSpec
from workforce_graph.training.served_policy import RolloutServerError, ServedPolicy, server_fault

__all__ = ["Executor", "RolloutPool", "ServedGraphSpec", "run_rollouts", "with_sampled_ids"]

Executor = Literal["local", "ray"]


@dataclass(frozen=True, kw_only=True)
class RolloutPool:
    """How an iteration's rollouts run: how many at once, and where."""

    concurrency: int = 1
    executor: Executor = "local"
    ray_address: str | None = None
    """``ray://host:10001`` or ``auto``; ``None`` starts a local Ray instance."""
    db: str | None = None
    """The checkpointer (``postgresql://...``, required on Ray)."""

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if self.executor not in ("local", "ray"):
            raise ValueError(f"--executor must be local or ray, not {self.executor!r}")
        if self.executor == "ray" and not (self.db or "").startswith(
            ("postgresql://", "postgres://")
        ):
            raise ValueError("--executor ray needs --db postgresql://... (a shared checkpointer)")


@dataclass
class ServedGraphSpec(GraphSpec):
    """A graph whose planner is a served policy, built as a chat model where it runs
    (in a Ray worker too: the policy is plain values). ``role_models["planner"]`` holds
    the policy's label, so the evaluation's record names the version."""

    served: ServedPolicy | None = None
    sampling_planner: bool = True

    def build(self, checkpointer: Any = None, store: Any = None) -> Any:
        if self.served is None:
            return super().build(checkpointer, store)
        planner: Any = self.served.chat_model(sampling=self.sampling_planner)
        plain = GraphSpec(
            **{
                **{k: getattr(self, k) for k in GraphSpec.__dataclass_fields__},
                "role_models": {**self.role_models, "planner": planner},
            }
        )
        return plain.build(checkpointer, store)


@dataclass
class _RolloutEvaluation(Evaluation):
    """Stores a run only if the server did not fail it. After a fault, runs in flight
    still finish (and are kept when sound); no new one starts here, and the summary
    raises, so the iteration fails once every finished run is on disk."""

    policy_version: int = 0
    fault: str | None = None

    async def execute(self, unit: UnitSpec, graph: Any) -> dict[str, Any]:
        if self.fault is not None:
            return {}  # never stored: the next start makes it
        return await super().execute(unit, graph)

    def summary(self, rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        if self.fault is not None:
            raise RolloutServerError(
                f"the rollout server failed: {self.fault}; the finished rollouts are kept: "
                "run the same command again once it serves"
            )
        return super().summary(rows)

    def units(self, done: Any) -> list[UnitSpec]:
        return [
            replace(unit, meta={**unit.meta, "policy_version": self.policy_version})
            for unit in super().units(done)
        ]

    def _store(self, run: UnitRun, tasks: dict[str, EvalTask]) -> dict[str, Any]:
        fault = _fault_of(run)
        if fault is not None:
            self.fault = self.fault or fault
            return {"score": 0.0}  # not written: the run is made again at the next start
        row, trajectory = score_run(self.dataset, tasks[run.unit.task_id], run)
        row.update(
            temperature=self.graph.temperature,
            seed=self.graph.sample_seed(run.unit.sample),
            policy_version=self.policy_version,
        )
        trajectory.meta["policy_version"] = self.policy_version
        return self._keep(row, trajectory)


def _fault_of(run: UnitRun) -> str | None:
    """The first planner call error that says the server failed, if any."""
    for call in run.trajectory.get("calls") or []:
        if call.get("role") == "planner" and server_fault(call.get("error")):
            return str(call["error"]).strip().splitlines()[0][:300]
    if server_fault(run.error):
        return str(run.error).strip().splitlines()[0][:300]
    return None


async def run_rollouts(
    dataset: EvalDataset,
    graph: GraphSpec,
    folder: Path,
    *,
    samples: int,
    limit: int | None,
    pool: RolloutPool,
    policy_version: int,
    timeout_s: float | None,
    label: str,
    progress: bool,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], int]:
    """Run (or finish) one evaluation of ``graph``; its summary and the runs it ran.

    Raises:
        RolloutServerError: The rollout server failed during a run; the runs stored
            before it are kept.
    """
    from tqdm import tqdm

    total = min(len(dataset.tasks), limit or len(dataset.tasks)) * samples
    kept = {(r.get("task_id"), r.get("sample")) for r in read_rows(folder / RESULTS)}
    ran = 0
    bar = tqdm(
        total=total,
        initial=min(len(kept), total),
        desc=label,
        unit="run",
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )

    def finished(row: dict[str, Any]) -> None:
        nonlocal ran
        ran += 1
        bar.update(1)
        if on_result is not None:
            on_result(row)

    evaluation = _RolloutEvaluation(
        dataset=dataset,
        graph=graph,
        out_dir=folder,
        samples=samples,
        limit=limit,
        concurrency=pool.concurrency,
        timeout_s=timeout_s,
        executor=pool.executor,
        ray_address=pool.ray_address,
        db=pool.db,
        on_result=finished,
        policy_version=policy_version,
    )
    try:
        return await evaluation.run(), ran
    finally:
        bar.close()


def with_sampled_ids(rows: list[dict[str, Any]], trajectories: list[Any]) -> int:
    """Give each row the token ids its planner call sampled, where the server gave them
    (``completion_ids``); the number of rows that got them."""
    sampled: dict[tuple[str, int], list[int]] = {}
    for trajectory in trajectories:
        for index, call in enumerate(trajectory.decisions("planner")):
            if call.token_ids:
                turn = call.turn if call.turn is not None else index
                sampled[(trajectory.trajectory_id, turn)] = list(call.token_ids)
    given = 0
    for row in rows:
        ids = sampled.get((row["trajectory_id"], row["turn"]))
        if ids:
            row["completion_ids"] = ids
            given += 1
    return given
