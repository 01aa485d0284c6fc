"""Run an evaluation: every (task, sample) once, scored, recorded, resumable.

An evaluation lives in one folder: ``eval.json`` (what is evaluated), ``results.jsonl``
(one scored row per run) and ``trajectories.jsonl`` (the recorded runs, with their
outcome). Started again on the same folder, it runs only what has no result yet; a
folder holding another evaluation is refused. Nothing is retried against the answer
key: each (task, sample) runs once and its first result counts.

Opening a folder heals it: a line cut by a kill mid-write (or a later row written onto
it) is set aside in ``<file>.damaged``, so its run is made again and recorded once.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from workforce_graph.evaluation.datasets.base import EvalDataset, EvalTask
from workforce_graph.evaluation.errors import EvalError
from workforce_graph.evaluation.graphs import GraphSpec
from workforce_graph.evaluation.judge import judge_score
from workforce_graph.evaluation.leakage import DEFAULT_BLOCKLIST
from workforce_graph.evaluation.memory import memory_at_start, score_record
from workforce_graph.evaluation.metrics import summarise
from workforce_graph.evaluation.outcome import EvalFailure
from workforce_graph.evaluation.results_file import (
    DAMAGED,
    Verdict,
    heal_jsonl,
    read_rows,
    run_key,
)
from workforce_graph.evaluation.scorer import extract_final_answer
from workforce_graph.evaluation.unit import UnitRun, UnitSpec, run_unit
from workforce_graph.folders import output_folder
from workforce_graph.past_runs import score_records
from workforce_graph.persistence import RunStore, open_run_store
from workforce_graph.trajectory.format import Outcome, Trajectory, append_trajectory

__all__ = [
    "DAMAGED",
    "RESULTS",
    "TRAJECTORIES",
    "EvalError",
    "Evaluation",
    "heal_jsonl",
    "model_label",
    "read_rows",
    "score_run",
]

Executor = Literal["local", "ray"]
RESULTS, TRAJECTORIES, RECORD = "results.jsonl", "trajectories.jsonl", "eval.json"
QUESTION_CHARS = 500
"""How much of a question a result row keeps: enough to recognise it in a report,
without copying a long GAIA prompt into every row."""


def model_label(graph: GraphSpec) -> str:
    """The model an evaluation runs, by name: the one given, else the default a run
    resolves to (``$WORKFORCE_GRAPH_MODEL``, else ``local``), or ``custom`` for a
    model built by a factory."""
    from workforce_graph.models import DEFAULT_MODEL, MODEL_ENV

    if graph.model:
        return graph.model
    if graph.model_factory is not None:
        return "custom"
    return os.environ.get(MODEL_ENV) or DEFAULT_MODEL


def score_run(
    dataset: EvalDataset, task: EvalTask, run: UnitRun
) -> tuple[dict[str, Any], Trajectory]:
    """The result row and the scored trajectory of one run.

    A run that did not answer completely (no plan, a failed subtask, a budget stop, a
    timeout, a crash) is wrong, of its kind, whatever its text; an answer is scored by
    the dataset's official rules on the text behind ``FINAL ANSWER:``.

    The score is binary: 1.0 right (the dataset's score is 1), else 0.0; it is the
    reward every export reads. A dataset's partial credit (a reasoning-gym verifier's
    0.75) is kept as ``partial_score``, for information only. A run that fell back to
    one subtask for want of a plan is scored on its answer; a wrong one is
    ``plan_fallback``.
    """
    extracted = extract_final_answer(run.answer)
    partial: float | None = None
    error = run.error
    if run.failure is None:
        try:
            partial = float(dataset.score(task, extracted))
        except Exception as exc:  # a verifier's bug must not stop the evaluation
            error = f"scorer failed: {type(exc).__name__}: {exc}"
    if partial is not None and not math.isfinite(partial):
        partial = None  # not JSON, and no score: the answer is wrong
    correct = run.failure is None and partial is not None and partial >= 1.0
    score = 1.0 if correct else 0.0
    wrong: EvalFailure = "plan_fallback" if run.plan_fallback else "wrong_answer"
    failure: EvalFailure | None = run.failure or (None if correct else wrong)
    trajectory = Trajectory.model_validate(run.trajectory)
    trajectory.outcome = Outcome(
        score=score,
        expected=task.answer,
        extracted=extracted,
        failure=failure,
    )
    calls = trajectory.calls
    question = task.question
    if len(question) > QUESTION_CHARS:
        question = question[: QUESTION_CHARS - 1] + "…"
    row: dict[str, Any] = {
        "task_id": task.task_id,
        "sample": run.unit.sample,
        "family": task.family,
        "question": question,
        "correct": correct,
        "score": score,
        "partial_score": partial,
        "failure": failure,
        "plan_fallback": run.plan_fallback,
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
    if task.data.get("display") is not None:
        # What a reader should see as the expected answer (Game of 24's numbers, not "24").
        row["display"] = str(task.data["display"])
    return row, trajectory


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
    on_start: Callable[[UnitSpec], None] | None = None
    """Called as each run starts (local executor), e.g. to show which task is running."""
    judge: Any = None
    """An optional chat model judging answers, reported beside the official score."""
    memory: dict[str, Any] | None = None
    """With ``--memory``: what the memory held at the start (see
    :func:`~workforce_graph.evaluation.memory.memory_at_start`)."""
    eval_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    set_aside: dict[str, int] = field(default_factory=dict)
    """Lines opening the folder set aside in ``<file>.damaged``, by file name (cut by a
    kill mid-write, or a second result of a run)."""
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
        # The sampling is written out for readers even when greedy; it is compared through
        # the graph's record, which names it only when set (old folders keep resuming).
        sampling = {"temperature": self.graph.temperature, "seed": self.graph.seed}
        record_path.write_text(
            json.dumps({**record, **sampling, "eval_id": self.eval_id}, indent=2)
        )
        rows: list[dict[str, Any]] = []
        done: set[tuple[str, int]] = set()

        def result(row: dict[str, Any]) -> Verdict:
            key = run_key(row)
            if key is None or key in done:
                return "set aside"  # not a row, or a second result: the first is final
            done.add(key)
            rows.append(row)
            return "keep"

        self.set_aside = {RESULTS: heal_jsonl(self.out_dir / RESULTS, result)}
        # One trajectory per result row: a run whose result line was lost reruns and is
        # recorded again, so its earlier trajectory goes.
        recorded = {str(r.get("trajectory_id")) for r in rows}

        def trajectory(line: dict[str, Any]) -> Verdict:
            trajectory_id = str(line.get("trajectory_id"))
            if trajectory_id not in recorded:
                return "drop"
            recorded.discard(trajectory_id)
            return "keep"

        self.set_aside[TRAJECTORIES] = heal_jsonl(self.out_dir / TRAJECTORIES, trajectory)
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

    def open(self) -> tuple[list[dict[str, Any]], list[UnitSpec]]:
        """Open the folder (refusing another evaluation's); the rows already done and
        the runs still to make, in task order."""
        rows = self._open()
        return rows, self.units((r["task_id"], r["sample"]) for r in rows)

    def graph_for(self, sample: int, saver: Any, built: dict[int, Any], store: Any = None) -> Any:
        """The compiled graph of ``sample``, built once into ``built``: one graph for
        all samples, unless the run samples with a seed per sample. ``store``: the
        memory of past runs, used only when the graph asks for it (``memory=True``)."""
        key = sample if self.graph.sampling else 0
        if key not in built:
            built[key] = self.graph.for_sample(sample).build(saver, store)
        return built[key]

    async def execute(self, unit: UnitSpec, graph: Any) -> dict[str, Any]:
        """Make one run on ``graph`` and store its result; the result row."""
        if self.on_start is not None:
            self.on_start(unit)
        run = await run_unit(
            graph,
            unit,
            topology=self.graph.topology,
            timeout_s=self.timeout_s,
            blocklist=self.blocklist,
        )
        # In a thread: a judge's model call must not stall the other runs.
        row = await asyncio.to_thread(self._store, run, self._tasks_by_id())
        await score_record(graph, unit.thread_id, float(row["score"]))
        return row

    def _tasks_by_id(self) -> dict[str, EvalTask]:
        return {t.task_id: t for t in self.tasks}

    def _store(self, run: UnitRun, tasks: dict[str, EvalTask]) -> dict[str, Any]:
        task = tasks[run.unit.task_id]
        row, trajectory = score_run(self.dataset, task, run)
        row["temperature"] = self.graph.temperature
        row["seed"] = self.graph.sample_seed(run.unit.sample)
        if self.judge is not None and trajectory.outcome is not None:
            verdict = judge_score(self.judge, task.question, task.answer, row["extracted"])
            row["judge_score"] = trajectory.outcome.judge_score = verdict
        return self._keep(row, trajectory)

    def _keep(self, row: dict[str, Any], trajectory: Trajectory) -> dict[str, Any]:
        """Append a scored run to the output folder (one writer at a time); the row."""
        with self._lock:
            append_trajectory(self.out_dir / TRAJECTORIES, trajectory)
            with (self.out_dir / RESULTS).open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
        if self.on_result is not None:
            self.on_result(row)
        return row

    async def run(self) -> dict[str, Any]:
        """Run what is not done yet; return the summary over every task."""
        rows, pending = self.open()
        ray = self.executor == "ray"
        if ray and (not self.db or not self.db.startswith(("postgresql://", "postgres://"))):
            raise EvalError("--executor ray needs --db postgresql://... (a shared checkpointer)")
        # Opened before any run: on Ray the tables are set up before the workers open the
        # database too.
        async with open_run_store(self.db or "memory") as opened:
            if self.graph.memory:
                questions = [t.question for t in self.tasks]
                self.memory = await memory_at_start(opened.store, questions)
            if ray:
                rows.extend(await self._run_on_ray(pending, opened.store))
            else:
                rows.extend(await self._run_local(pending, opened))
        return self.summary(rows)

    async def _run_on_ray(self, pending: list[UnitSpec], store: Any) -> list[dict[str, Any]]:
        from workforce_graph.evaluation.ray_executor import run_on_ray

        by_id = self._tasks_by_id()
        loop = asyncio.get_running_loop()

        def keep(run: UnitRun) -> dict[str, Any]:
            # Called in the executor's thread, as each run arrives.
            row = self._store(run, by_id)
            if self.graph.memory:
                scored = score_records(store, run.unit.thread_id, float(row["score"]))
                asyncio.run_coroutine_threadsafe(scored, loop).result()
            return row

        return await run_on_ray(self, pending, keep)

    async def _run_local(self, pending: list[UnitSpec], opened: RunStore) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        gate = asyncio.Semaphore(self.concurrency)
        built: dict[int, Any] = {}

        async def one(unit: UnitSpec) -> None:
            async with gate:
                graph = self.graph_for(unit.sample, opened.checkpointer, built, opened.store)
                rows.append(await self.execute(unit, graph))

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
        # Of the runs the denominator counts: each (task, sample) once.
        tasks = {t.task_id for t in self.tasks}
        fallbacks = [
            r
            for r in rows
            if r.get("plan_fallback") and r["task_id"] in tasks and r["sample"] < self.samples
        ]
        return {
            "dataset": self.dataset.name,
            "topology": self.graph.topology,
            "model": model_label(self.graph),
            "role_models": self.graph.role_models,
            "executor": self.executor,
            "temperature": self.graph.temperature,
            "seed": self.graph.seed,
            **summary,
            "plan_fallback": {
                "runs": len(fallbacks),
                "correct": sum(1 for r in fallbacks if r.get("correct")),
            },
            "memory": {"on": self.graph.memory, **(self.memory or {})},
        }
