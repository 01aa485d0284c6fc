"""Figures of an evaluation of the planner, read from its trajectories: accuracy, first
plan valid (the planner's first call gave a plan it could use, no repair), how often no
valid plan came at all (the one-subtask fallback ran), and the worker chosen for each
subtask of each question family."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from workforce_graph.evaluation.datasets.base import EvalDataset
from workforce_graph.evaluation.graphs import GraphSpec, Topology
from workforce_graph.evaluation.metrics import first_plan_valid  # re-exported here
from workforce_graph.evaluation.runner import Evaluation
from workforce_graph.trajectory.format import Trajectory, read_trajectories

__all__ = [
    "evaluate_planner",
    "first_plan_valid",
    "print_before_after",
    "sampled_rollouts",
    "scored",
]


async def sampled_rollouts(
    dataset: EvalDataset,
    out_dirs: list[Path],
    *,
    topology: Topology,
    temperature: float,
    model: str | None = "local",
    options: dict[str, Any] | None = None,
) -> list[Trajectory]:
    """One run of every question per directory, every role's ``model`` sampling at
    ``temperature`` with seed 1, 2, ...; a directory that already holds its runs is
    resumed, not redone."""
    for sample, directory in enumerate(out_dirs):
        await Evaluation(
            dataset=dataset,
            graph=GraphSpec(
                topology=topology,
                model=model,
                options=options or {},
                temperature=temperature,
                seed=sample + 1,
            ),
            out_dir=directory,
        ).run()
    return list(read_trajectories(out_dirs))


def scored(trajectories: list[Trajectory]) -> int:
    """How many runs scored (a full score)."""
    return sum(1 for t in trajectories if t.outcome and t.outcome.score >= 1.0)


async def evaluate_planner(
    dataset: EvalDataset,
    *,
    planner: str,
    out: Path,
    model: str | None = None,
    topology: str = "workforce",
    samples: int = 1,
) -> dict[str, Any]:
    """Run ``dataset`` with ``planner`` for the planner role; return its figures."""
    started = time.perf_counter()
    evaluation = Evaluation(
        dataset=dataset,
        graph=GraphSpec(topology=topology, model=model, role_models={"planner": planner}),
        out_dir=out,
        samples=samples,
    )
    summary = await evaluation.run()
    trajectories = list(read_trajectories([out]))
    family_of = {t.task_id: t.family for t in dataset.tasks}
    workers: dict[str, Counter[str]] = defaultdict(Counter)
    for trajectory in trajectories:
        family = family_of.get(str(trajectory.meta.get("task_id")), "?")
        for subtask in trajectory.meta.get("subtasks") or []:
            workers[family][str(subtask.get("worker"))] += 1
    valid = [first_plan_valid(t) for t in trajectories]
    fallbacks = sum(1 for t in trajectories if t.meta.get("plan_fallback"))
    return {
        "runs": len(trajectories),
        "accuracy": summary.get("pass@1", 0.0),
        "first_plan_valid": sum(valid) / len(valid) if valid else 0.0,
        "plan_fallback": fallbacks / len(trajectories) if trajectories else 0.0,
        "failures": summary.get("failures", summary.get("failure_kinds")),
        "workers_by_family": {k: dict(v) for k, v in sorted(workers.items())},
        "seconds": round(time.perf_counter() - started, 1),
    }


def print_before_after(title: str, before: dict[str, Any], after: dict[str, Any]) -> None:
    """The held-out figures side by side."""
    print(f"{title:<22}{'before':>12}{'after':>12}")
    for key in ("first_plan_valid", "plan_fallback", "accuracy", "runs", "seconds"):
        print(f"{key:<22}{before[key]:>12.3g}{after[key]:>12.3g}")
    print("worker per family, before:", before["workers_by_family"])
    print("worker per family, after: ", after["workers_by_family"])
