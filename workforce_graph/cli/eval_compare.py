"""``workforce-graph eval --compare``: planners side by side on the same tasks."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workforce_graph.cli.errors import CliError
from workforce_graph.cli.eval_progress import Progress, already_done, check_out, slug

if TYPE_CHECKING:
    from rich.console import Console

    from workforce_graph.evaluation.datasets.base import EvalDataset
    from workforce_graph.evaluation.graphs import GraphSpec

__all__ = ["compare_planners", "compared_planners"]


def compare_planners(
    data: EvalDataset,
    spec: GraphSpec,
    planners: list[str],
    console: Console,
    shared: dict[str, Any],
    preflight: Callable[[], None],
    *,
    out: Path | None,
    html: Path | None,
    json_out: bool,
) -> int:
    """``eval --compare``: the planners side by side on the same runs; the exit code.

    Args:
        data: The dataset.
        spec: The graph every side runs, its planner replaced by each of ``planners``.
        planners: The planners, distinct, at least two (:func:`compared_planners`).
        console: Where progress and tables go.
        shared: The evaluation's options (samples, concurrency, limit, timeout, ...).
        preflight: Checks the models' servers; called only when runs remain.
        out: ``--out`` (default: a folder under ``evals/`` named after the comparison).
        html: ``--html``.
        json_out: ``--json``: the summary on stdout instead of the tables.
    """
    from workforce_graph.evaluation.compare import Comparison, planner_labels
    from workforce_graph.evaluation.report import write_comparison_html
    from workforce_graph.evaluation.report_tables import print_comparison
    from workforce_graph.evaluation.runner import RESULTS, EvalError

    limit, samples = shared["limit"], shared["samples"]

    labels = planner_labels(planners)
    name = f"{data.name}-{spec.topology}-compare-{'-'.join(labels)}"
    folder = out or Path("evals") / slug(name)
    check_out(folder)
    tasks = data.tasks[:limit] if limit else data.tasks
    keys = {(t.task_id, k) for t in tasks for k in range(samples)}
    progress = Progress(
        len(keys) * len(labels),
        already_done([folder / label / RESULTS for label in labels], keys),
        concurrency=shared["concurrency"],
    )
    if progress.done < progress.total:
        preflight()

    def started(label: str, unit: Any) -> None:
        console.print(f"{label}: {unit.task_id} #{unit.sample}: running", highlight=False)

    def finished(label: str, row: dict[str, Any]) -> None:
        console.print(progress.run_line(row, label), highlight=False)

    comparison = Comparison.of_planners(
        data, spec, planners, folder, on_result=finished, on_start=started, **shared
    )
    console.print(
        f"comparing {len(labels)} planners ({', '.join(labels)}) on {progress.total} "
        f"run(s) of {data.name} into {folder}"
        + (f" ({progress.done} done before)" if progress.done else ""),
        highlight=False,
    )
    try:
        summary = asyncio.run(comparison.run())
    except (EvalError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    report = folder / "report.html"
    if html:
        write_comparison_html(summary, html)
        report = html
    if json_out:
        sys.stdout.write(json.dumps(summary) + "\n")
    else:
        print_comparison(summary, console)
    console.print(f"report: {report}", highlight=False)
    return 0


def compared_planners(
    compare: list[str] | None, planner_model: str | None, executor: str
) -> list[str]:
    """The distinct planners of ``--compare``, in order (none without it).

    Raises:
        CliError: Fewer than 2 distinct planners, ``--planner-model`` beside it, or Ray.
    """
    if not compare:
        return []
    if planner_model:
        raise CliError(
            "--compare sets the planner of each side; drop --planner-model (the other "
            "roles' options apply to every side)"
        )
    planners = list(dict.fromkeys(p.strip() for p in compare if p.strip()))
    if len(planners) < 2:
        raise CliError("--compare needs at least 2 distinct planners: --compare A --compare B")
    if executor != "local":
        raise CliError("--compare runs its sides interleaved in one process: drop --executor ray")
    return planners
