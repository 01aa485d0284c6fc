"""Compare planners on the same tasks: one evaluation per planner, runs interleaved,
paired statistics against the first (the baseline).

Every side runs the same graph but for the planner's model: same workers, prompts,
seed and settings. Runs are interleaved (a task's runs with planner 1, 2, ... before
the next task), so a machine that slows down midway slows every side alike instead of
the last one. Each side is an ordinary :class:`~workforce_graph.evaluation.runner.
Evaluation` in its own sub-folder of the comparison's folder: resumable, exportable and
usable on its own; an interrupted comparison resumes where it stopped.

Example:
    >>> summary = await Comparison.of_planners(  # doctest: +SKIP
    ...     load_dataset("curriculum:1"), GraphSpec(model="local"),
    ...     ["local", "gguf:trained.gguf"], Path("evals/cmp")).run()
    >>> summary["planners"]["gguf-trained.gguf"]["vs_baseline"]["p_value"]  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from workforce_graph.evaluation.datasets.base import EvalDataset
from workforce_graph.evaluation.graphs import GraphSpec
from workforce_graph.evaluation.leakage import DEFAULT_BLOCKLIST
from workforce_graph.evaluation.metrics import planner_figures
from workforce_graph.evaluation.runner import (
    RESULTS,
    TRAJECTORIES,
    EvalError,
    Evaluation,
    model_label,
    read_rows,
)
from workforce_graph.evaluation.statistics import paired_table, wilson_interval
from workforce_graph.evaluation.unit import UnitSpec
from workforce_graph.folders import output_folder
from workforce_graph.persistence import open_checkpointer
from workforce_graph.trajectory.format import Trajectory, read_trajectories

__all__ = ["COMPARISON", "Comparison", "check_label", "planner_labels"]

COMPARISON = "comparison.json"
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")


def check_label(label: str) -> None:
    """Refuse a planner label that cannot name a folder everywhere.

    Raises:
        EvalError: Not a slug of letters, digits, ``.``, ``_`` and ``-`` starting with a
            letter or digit (at most 80 characters).
    """
    if not _LABEL.fullmatch(label):
        raise EvalError(
            f"planner label {label!r} cannot name a folder: use letters, digits, '.', '_' "
            "and '-', starting with a letter or digit"
        )


def planner_labels(planners: Iterable[str]) -> dict[str, str]:
    """Folder-safe, unique labels for planner model names, in order: ``label -> name``.

    ``gguf:/models/trained.gguf`` becomes ``gguf-models-trained.gguf``; a label two names
    share (or share but for case, on a case-insensitive disk) gets ``-2``, ``-3``...

    Example:
        >>> planner_labels(["local", "hf:runs/sft?temperature=0"])
        {'local': 'local', 'hf-runs-sft-temperature-0': 'hf:runs/sft?temperature=0'}
    """
    labels: dict[str, str] = {}
    taken: set[str] = set()
    for name in planners:
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._")[:70] or "planner"
        label, number = base, 1
        while label.lower() in taken:
            number += 1
            label = f"{base}-{number}"
        taken.add(label.lower())
        labels[label] = name
    return labels


def _worker_capabilities(graph: GraphSpec) -> dict[str, tuple[str, ...]]:
    from workforce_graph.plugins import usable_workers

    try:
        registry = usable_workers(graph.workers_factory() if graph.workers_factory else None)
    except ValueError:
        return {}  # no worker: the runs fail and no subtask is routed anyway
    return {name: tuple(spec.capabilities) for name, spec in registry.workers.items()}


@dataclass
class Comparison:
    """Planners compared on one dataset, kept in ``out_dir`` (one sub-folder a side).

    Args:
        dataset: The tasks.
        graphs: The graph of each side, by label (the first is the baseline); labels
            name the sub-folders (see :func:`check_label`). Build them with
            :meth:`of_planners` so that only the planner differs.
        out_dir: The comparison's folder.
        on_result: Called with ``(label, row)`` as each run is stored.
        on_start: Called with ``(label, unit)`` as each run starts.

    The other fields are :class:`~workforce_graph.evaluation.runner.Evaluation`'s, the
    same for every side.
    """

    dataset: EvalDataset
    graphs: Mapping[str, GraphSpec]
    out_dir: Path
    samples: int = 1
    concurrency: int = 1
    limit: int | None = None
    timeout_s: float | None = 600.0
    db: str | None = None
    blocklist: tuple[str, ...] = DEFAULT_BLOCKLIST
    judge: Any = None
    on_result: Callable[[str, dict[str, Any]], None] | None = None
    on_start: Callable[[str, UnitSpec], None] | None = None
    planners: dict[str, str] = field(default_factory=dict)
    """The planner's model name of each label, for the report (set by
    :meth:`of_planners`; else read from each graph's ``role_models``)."""

    @classmethod
    def of_planners(
        cls,
        dataset: EvalDataset,
        graph: GraphSpec,
        planners: Sequence[str],
        out_dir: Path,
        **kw: Any,
    ) -> Comparison:
        """Sides that differ only in ``role_models["planner"]``, labelled by
        :func:`planner_labels`; ``planners[0]`` is the baseline."""
        labels = planner_labels(planners)
        graphs = {
            label: replace(graph, role_models={**graph.role_models, "planner": name})
            for label, name in labels.items()
        }
        return cls(dataset, graphs, out_dir, planners=labels, **kw)

    def _check(self) -> None:
        if len(self.graphs) < 2:
            raise EvalError("a comparison needs at least 2 planners")
        lowered = [label.lower() for label in self.graphs]
        if len(set(lowered)) != len(lowered):
            raise EvalError("planner labels must differ (also in more than case)")
        for label in self.graphs:
            check_label(label)

    def sides(self) -> dict[str, Evaluation]:
        """The evaluation of each side, in the comparison's order."""
        return {
            label: Evaluation(
                self.dataset,
                graph,
                self.out_dir / label,
                samples=self.samples,
                concurrency=self.concurrency,
                limit=self.limit,
                timeout_s=self.timeout_s,
                db=self.db,
                blocklist=self.blocklist,
                judge=self.judge,
                on_result=self._reporter(label),
                on_start=self._starter(label),
            )
            for label, graph in self.graphs.items()
        }

    def _reporter(self, label: str) -> Callable[[dict[str, Any]], None] | None:
        on_result = self.on_result
        return None if on_result is None else lambda row: on_result(label, row)

    def _starter(self, label: str) -> Callable[[UnitSpec], None] | None:
        on_start = self.on_start
        return None if on_start is None else lambda unit: on_start(label, unit)

    async def run(self) -> dict[str, Any]:
        """Run what is not done on any side, interleaved; write each side's summary and
        report, ``comparison.json`` and ``report.html``; return the comparison's summary
        (a plain, JSON-able dict, see :meth:`summary`)."""
        from workforce_graph.evaluation.report import write_comparison_html, write_html

        self._check()
        output_folder(self.out_dir, holds="the comparison")
        sides = self.sides()
        opened = {label: side.open() for label, side in sides.items()}
        rows = {label: list(done) for label, (done, _) in opened.items()}
        pending = {
            label: {(u.task_id, u.sample): u for u in units} for label, (_, units) in opened.items()
        }
        # Task by task, sample by sample, each side in turn: load falls on all alike.
        order = [
            (label, pending[label][key])
            for task in sides[next(iter(sides))].tasks
            for sample in range(self.samples)
            for label in sides
            if (key := (task.task_id, sample)) in pending[label]
        ]
        gate = asyncio.Semaphore(self.concurrency)
        async with open_checkpointer(self.db or "memory") as saver:
            built: dict[str, dict[int, Any]] = {label: {} for label in sides}

            async def one(label: str, unit: UnitSpec) -> None:
                async with gate:  # FIFO: runs start in the interleaved order
                    side = sides[label]
                    graph = side.graph_for(unit.sample, saver, built[label])
                    rows[label].append(await side.execute(unit, graph))

            async with asyncio.TaskGroup() as group:
                for label, unit in order:
                    group.create_task(one(label, unit))
        for label, side in sides.items():
            summary = side.summary(rows[label])
            (side.out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
            write_html(
                summary,
                read_rows(side.out_dir / RESULTS),
                side.out_dir / "report.html",
                trajectories=side.out_dir / TRAJECTORIES,
                questions={t.task_id: t.question for t in side.tasks},
            )
        result = self.summary(rows)
        (self.out_dir / COMPARISON).write_text(json.dumps(result, indent=2))
        write_comparison_html(result, self.out_dir / "report.html")
        return result

    def summary(
        self, rows: Mapping[str, Sequence[Mapping[str, Any]]] | None = None
    ) -> dict[str, Any]:
        """The comparison's figures from each side's rows (read from its folder when not
        given) and trajectories.

        Returns:
            ``dataset``, ``topology``, ``samples``, ``total`` (tasks), ``pairs`` (runs a
            side: tasks x samples), ``baseline`` (its label), ``families`` (tasks per
            family) and ``planners``: by label, in order, ``planner`` (the model name),
            ``folder``, ``runs``, ``correct``, ``pass@1`` and ``pass@1_ci95`` (Wilson,
            over the pairs), ``vs_baseline`` (``None`` for the baseline, else
            ``difference`` in pass@1, the discordant counts ``b`` (only the baseline
            right) and ``c`` (only this side right), ``both``, ``neither`` and the exact
            McNemar ``p_value``), ``by_family`` (``total``, ``pass@1``, ``correct``,
            ``pass@1_ci95``), ``failures``, the planner figures of
            :func:`~workforce_graph.evaluation.metrics.planner_figures`, and ``time_s``
            (``per_run_mean``, ``total``).
        """
        sides = self.sides()
        side_rows = {
            label: [dict(r) for r in rows[label]]
            if rows is not None
            else read_rows(side.out_dir / RESULTS)
            for label, side in sides.items()
        }
        first = next(iter(sides.values()))
        tasks = first.tasks
        keys = [(t.task_id, s) for t in tasks for s in range(self.samples)]
        verdicts = {label: _verdicts(side_rows[label], keys) for label in sides}
        baseline = next(iter(sides))
        data = {t.task_id: t.data for t in tasks}
        capabilities = (
            _worker_capabilities(first.graph)
            if any("expected_capabilities" in d for d in data.values())
            else {}
        )
        families: dict[str, int] = {}
        for task in tasks:
            families[task.family or "all"] = families.get(task.family or "all", 0) + 1
        planners: dict[str, Any] = {}
        for label, side in sides.items():
            summary = side.summary(side_rows[label])
            right = sum(verdicts[label])
            table = paired_table(verdicts[baseline], verdicts[label])
            figures = planner_figures(
                _trajectories(side.out_dir / TRAJECTORIES, {t.task_id for t in tasks}),
                task_data=data,
                worker_capabilities=capabilities,
            )
            planners[label] = {
                "planner": self.planners.get(label) or _planner_name(side.graph),
                "folder": str(side.out_dir),
                "runs": summary["runs"],
                "correct": right,
                "pass@1": summary["pass@1"],
                "pass@1_ci95": list(wilson_interval(right, len(keys))),
                "vs_baseline": None
                if label == baseline
                else {
                    "difference": table.difference,
                    "b": table.b,
                    "c": table.c,
                    "both": table.both,
                    "neither": table.neither,
                    "p_value": table.p_value,
                },
                "by_family": summary["by_level"],
                "failures": summary["failures"],
                **{k: v for k, v in figures.items() if k != "runs"},
                "time_s": {
                    "per_run_mean": summary["time_s"]["per_task_mean"],
                    "total": summary["time_s"]["total"],
                },
            }
        return {
            "dataset": self.dataset.name,
            "topology": first.graph.topology,
            "samples": self.samples,
            "total": len(tasks),
            "pairs": len(keys),
            "baseline": baseline,
            "families": families,
            "planners": planners,
        }


def _planner_name(graph: GraphSpec) -> str:
    return graph.role_models.get("planner") or model_label(graph)


def _verdicts(rows: Iterable[Mapping[str, Any]], keys: Sequence[tuple[str, int]]) -> list[bool]:
    """Right or not for each (task, sample) in ``keys``; a run never made is wrong, as
    in pass@1, so both sides are paired over the same denominator."""
    right = {(str(r["task_id"]), int(r["sample"])) for r in rows if r.get("correct")}
    return [key in right for key in keys]


def _trajectories(path: Path, task_ids: Collection[str]) -> list[Trajectory]:
    if not path.exists():
        return []
    return [t for t in read_trajectories([path]) if str(t.meta.get("task_id")) in task_ids]
