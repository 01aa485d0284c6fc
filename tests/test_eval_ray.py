"""``--executor ray``: runs in Ray worker processes, durable in a shared PostgreSQL
checkpointer, results gathered by the driver. A local Ray instance (2 CPUs) and a
throwaway PostgreSQL server are started once per test session."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from workforce_graph.evaluation.datasets import EvalDataset, EvalTask
from workforce_graph.evaluation.graphs import GraphSpec
from workforce_graph.evaluation.runner import EvalError, Evaluation
from workforce_graph.past_runs import load_records
from workforce_graph.persistence import open_checkpointer, open_run_store
from workforce_graph.testing import ScriptedChatModel, plan_reply

CI = os.environ.get("CI") == "true"


def scripted_model() -> ScriptedChatModel:
    """Built in the Ray worker: the worker's reply names the process it ran in."""
    return ScriptedChatModel(
        responders={
            "planner": plan_reply(
                {"id": "s1", "description": "add", "capabilities": ["reasoning"]}
            ),
            "worker": lambda m: f"computed in process {os.getpid()}",
            "generator": "FINAL ANSWER: 4",
        }
    )


def data() -> EvalDataset:
    tasks = [
        EvalTask(task_id=f"q{i}", question=f"2+2? ({i})", answer="4" if i < 2 else "5")
        for i in range(3)
    ]
    return EvalDataset(name="ray-mini", tasks=tasks, answer_format="FINAL ANSWER: x")


async def test_runs_spread_over_ray_and_are_durable_in_postgres(
    tmp_path: Path, pg: str, local_ray: Any
) -> None:
    evaluation = Evaluation(
        data(),
        GraphSpec(model_factory=scripted_model),
        tmp_path,
        executor="ray",
        db=pg,
        concurrency=2,
    )
    summary = await evaluation.run()
    assert summary["total"] == 3 and summary["pass@1"] == pytest.approx(2 / 3)
    assert summary["failures"]["wrong_answer"] == 1 and summary["executor"] == "ray"
    trajectories = [
        json.loads(line) for line in (tmp_path / "trajectories.jsonl").read_text().splitlines()
    ]
    workers = [c["text"] for t in trajectories for c in t["calls"] if c["role"] == "worker"]
    assert len(workers) == 3 and all(str(os.getpid()) not in w for w in workers)
    async with open_checkpointer(pg) as saver:
        for i in range(3):
            config = {
                "configurable": {
                    "thread_id": f"eval-{evaluation.eval_id}-q{i}-0",
                    "checkpoint_ns": "",
                }
            }
            saved = await saver.aget_tuple(config)
            assert saved is not None and saved.checkpoint["channel_values"]["answer"]["complete"]


async def test_with_memory_the_runs_on_ray_keep_scored_records(
    tmp_path: Path, pg: str, local_ray: Any
) -> None:
    evaluation = Evaluation(
        data(),
        GraphSpec(model_factory=scripted_model, options={"memory": True}),
        tmp_path,
        executor="ray",
        db=pg,
        concurrency=2,
    )
    summary = await evaluation.run()
    assert summary["memory"]["on"] is True and "past_runs" in summary["memory"]
    threads = {f"eval-{evaluation.eval_id}-q{i}-0": 1.0 if i < 2 else 0.0 for i in range(3)}
    async with open_run_store(pg) as opened:
        records = [r for r in await load_records(opened.store) if r["thread_id"] in threads]
    # Written by the workers, scored by the driver as each run arrived.
    assert sorted((r["thread_id"], r["score"]) for r in records) == sorted(threads.items())


async def test_ray_needs_a_shared_postgres_checkpointer(tmp_path: Path) -> None:
    evaluation = Evaluation(
        data(), GraphSpec(model_factory=scripted_model), tmp_path, executor="ray"
    )
    with pytest.raises(EvalError, match="needs --db postgresql://"):
        await evaluation.run()
