"""Run an evaluation: every (task, sample) once, scored, recorded, resumable.

An evaluation lives in one folder: ``eval.json`` (what is evaluated), ``results.jsonl``
(one scored row per run) and ``trajectories.jsonl`` (the recorded runs, with their
outcome). Started again on the same folder, it runs only what has no result yet; a
folder holding another evaluation is refused. Nothing is retried against the answer
key: each (task, sample) runs once and its first result counts.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from workforce_graph.evaluation.datasets.base import EvalDataset, EvalTask
from workforce_graph.evaluation.graphs import GraphSpec
from workforce_graph.evaluation.judge import judge_score
from workforce_graph.evaluation.leakage import DEFAULT_BLOCKLIST
from workforce_graph.evaluation.metrics import summarise
from workforce_graph.evaluation.scorer import extract_final_answer
from workforce_graph.evaluation.unit import UnitRun, UnitSpec, run_unit
from workforce_graph.folders import output_folder
from workforce_graph.persistence import open_checkpointer
from workforce_graph.trajectory.format import Outcome, Trajectory, append_trajectory

__all__ = ["RESULTS", "TRAJECTORIES", "EvalError", "Evaluation", "read_rows", "score_run"]

Executor = Literal["local", "ray"]
RESULTS, TRAJECTORIES, RECORD = "results.jsonl", "trajectories.jsonl", "eval.json"


class EvalError(RuntimeError):
    """The evaluation cannot start (one actionable line)."""


def score_run(
    dataset: EvalDataset, task: EvalTask, run: UnitRun
) -> tuple[dict[str, Any], Trajectory]:
    """The result row and the scored trajectory of one run.

    A run that did not answer completely (no plan, a failed subtask, a budget stop, a
    timeout, a crash) is wrong, of its kind, whatever its text; an answer is scored by
    the dataset's official rules on the text behind ``FINAL ANSWER:``.
    """
    extracted = extract_final_answer(run.answer)
    score, error = 0.0, run.error
    if run.failure is None:
        try:
            score = dataset.score(task, extracted)
        except Exception as exc:  # a verifier's bug must not stop the evaluation
            error = f"scorer failed: {type(exc).__name__}: {exc}"
    correct = run.failure is None and score >= 1.0
    wrong = "no_plan" if run.plan_fallback else "wrong_answer"
    failure = run.failure or (None if correct else wrong)
    trajectory = Trajectory.model_validate(run.trajectory)
    trajectory.outcome = Outcome(
        score=1.0 if correct else score if run.failure is None else 0.0,
        expected=task.answer,
        extracted=extracted,
        failure=failure,  # type: ignore[arg-type]
    )
    calls = trajectory.calls
    row = {
        "task_id": task.task_id,
        "sample": run.unit.sample,
        "family": task.family,
        "correct": correct,
        "score": trajectory.outcome.score,
        "failure": failure,
        "extracted": extracted,
        "expected": task.answer,
        "error": error,
        "duration_s": round(run.duration_s, 3),
        "model_calls": len(calls),
        "input_tokens": sum(c.input_tokens or 0 for c in calls),
        "output_tokens": sum(c.output_tokens or 0 for c in calls),
        "withheld": len(run.withheld),
        "trajectory_id": trajectory.trajectory_id,
    }
    return row, trajectory


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut by an interruption: that run is redone
    return rows


@dataclass
class Evaluation:
    """One evaluation of a dataset on a graph, kept in ``out_dir``."""

    dataset: EvalDataset
    graph: GraphSpec
    out_dir: Path
    samples: int = 1
    concurrency: int = 1
    limit: int | None = None
    timeout_s: float | None = 600.0
    executor: Executor = "local"
    ray_address: str | None = None
    db: str | None = None
    """Checkpointer: a SQLite path or ``postgresql://`` DSN (required with Ray)."""
    blocklist: tuple[str, ...] = DEFAULT_BLOCKLIST
    on_result: Callable[[dict[str, Any]], None] | None = None
    judge: Any = None
    """An optional chat model judging answers, reported beside the official score."""
    eval_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def tasks(self) -> list[EvalTask]:
        return self.dataset.tasks[: self.limit] if self.limit else list(self.dataset.tasks)

    def _record(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset.name,
            "graph": self.graph.describe(),
            "samples": self.samples,
        }

    def _open(self) -> list[dict[str, Any]]:
        """Check the folder holds this evaluation (or nothing); the rows already done."""
        output_folder(self.out_dir, holds="the evaluation")
        record_path = self.out_dir / RECORD
        record = self._record()
        if record_path.exists():
            stored = json.loads(record_path.read_text(encoding="utf-8"))
            self.eval_id = str(stored.get("eval_id", self.eval_id))
            stored_what = {k: stored.get(k) for k in record}
            if stored_what != record:
                raise EvalError(
                    f"{self.out_dir} holds another evaluation ({stored.get('dataset')}, "
                    f"{stored.get('graph', {}).get('topology')}, model "
                    f"{stored.get('graph', {}).get('model')}); pass another --out"
                )
        record_path.write_text(json.dumps({**record, "eval_id": self.eval_id}, indent=2))
        rows = read_rows(self.out_dir / RESULTS)
        done = {(r["task_id"], r["sample"]) for r in rows}
        # Trajectories written by a run whose result line was lost are dropped: it reruns.
        path = self.out_dir / TRAJECTORIES
        if path.exists():
            kept = [
                line
                for line in path.read_text(encoding="utf-8").splitlines()
                if _done_line(line, done)
            ]
            path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        return rows

    def units(self, done: Iterable[tuple[str, int]]) -> list[UnitSpec]:
        finished = set(done)
        return [
            UnitSpec(
                task_id=task.task_id,
                sample=sample,
                question=task.question,
                files=task.files,
                answer_format=self.dataset.answer_format,
                thread_id=f"eval-{self.eval_id}-{task.task_id}-{sample}",
                meta={"task_id": task.task_id, "dataset": self.dataset.name, "family": task.family},
            )
            for task in self.tasks
            for sample in range(self.samples)
            if (task.task_id, sample) not in finished
        ]

    def _store(self, run: UnitRun, tasks: dict[str, EvalTask]) -> dict[str, Any]:
        task = tasks[run.unit.task_id]
        row, trajectory = score_run(self.dataset, task, run)
        if self.judge is not None and trajectory.outcome is not None:
            verdict = judge_score(self.judge, task.question, task.answer, row["extracted"])
            row["judge_score"] = trajectory.outcome.judge_score = verdict
        with self._lock:
            append_trajectory(self.out_dir / TRAJECTORIES, trajectory)
            with (self.out_dir / RESULTS).open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
        if self.on_result is not None:
            self.on_result(row)
        return row

    async def run(self) -> dict[str, Any]:
        """Run what is not done yet; return the summary over every task."""
        rows = self._open()
        pending = self.units((r["task_id"], r["sample"]) for r in rows)
        by_id = {t.task_id: t for t in self.tasks}
        if self.executor == "ray":
            from workforce_graph.evaluation.ray_executor import run_on_ray

            if not self.db or not self.db.startswith(("postgresql://", "postgres://")):
                raise EvalError(
                    "--executor ray needs --db postgresql://... (a shared checkpointer)"
                )
            async with open_checkpointer(self.db):
                pass  # set up the tables once, before the workers race to
            rows.extend(await run_on_ray(self, pending, lambda run: self._store(run, by_id)))
        else:
            rows.extend(await self._run_local(pending, by_id))
        return self.summary(rows)

    async def _run_local(
        self, pending: list[UnitSpec], by_id: dict[str, EvalTask]
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        gate = asyncio.Semaphore(self.concurrency)
        async with open_checkpointer(self.db or "memory") as saver:
            graph = self.graph.build(saver)

            async def one(unit: UnitSpec) -> None:
                async with gate:
                    run = await run_unit(
                        graph,
                        unit,
                        topology=self.graph.topology,
                        timeout_s=self.timeout_s,
                        blocklist=self.blocklist,
                    )
                    # In a thread: a judge's model call must not stall the other runs.
                    rows.append(await asyncio.to_thread(self._store, run, by_id))

            async with asyncio.TaskGroup() as group:
                for unit in pending:
                    group.create_task(one(unit))
        return rows

    def summary(self, rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        rows = rows if rows is not None else read_rows(self.out_dir / RESULTS)
        summary = summarise(
            rows,
            tasks=[{"task_id": t.task_id, "family": t.family} for t in self.tasks],
            samples=self.samples,
        )
        return {
            "dataset": self.dataset.name,
            "topology": self.graph.topology,
            "model": self.graph.model or "default",
            "role_models": self.graph.role_models,
            "executor": self.executor,
            **summary,
        }


def _done_line(line: str, done: set[tuple[str, int]]) -> bool:
    try:
        meta = json.loads(line).get("meta", {})
    except json.JSONDecodeError:
        return False
    return (meta.get("task_id"), meta.get("sample")) in done
