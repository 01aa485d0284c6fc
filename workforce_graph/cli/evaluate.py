"""``workforce-graph eval DATASET``: run a benchmark honestly and report it."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from workforce_graph.cli.errors import CliError
from workforce_graph.cli.options import (
    BaseUrl,
    CoordinatorModel,
    Debug,
    GeneratorModel,
    Json,
    Model,
    PlannerModel,
    TopologyName,
    TopologyOption,
    VerifierModel,
    WorkerModel,
    guard,
    with_setting_options,
)
from workforce_graph.folders import FolderError, output_folder

__all__ = ["eval_command"]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "eval"


@with_setting_options
def eval_command(
    dataset: Annotated[
        str,
        typer.Argument(
            help="A GAIA folder (metadata.jsonl or .parquet), a .jsonl of question/answer "
            "rows, 'game24' or 'reasoning-gym:TASK[,TASK...]'.",
            show_default=False,
        ),
    ],
    model: Model = None,
    base_url: BaseUrl = None,
    planner_model: PlannerModel = None,
    coordinator_model: CoordinatorModel = None,
    worker_model: WorkerModel = None,
    verifier_model: VerifierModel = None,
    generator_model: GeneratorModel = None,
    topology: TopologyOption = TopologyName.workforce,
    samples: Annotated[
        int, typer.Option(min=1, help="Runs per task; >1 adds pass@k and majority@k.")
    ] = 1,
    concurrency: Annotated[int, typer.Option(min=1, help="Runs at once.")] = 1,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Only the first N tasks.", show_default=False)
    ] = None,
    size: Annotated[int, typer.Option(min=1, help="Tasks per reasoning-gym task.")] = 50,
    run_timeout: Annotated[
        float,
        typer.Option(
            min=0.001, help="Time limit of one run in seconds (a run past it is a timeout)."
        ),
    ] = 600.0,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder of the evaluation (results, trajectories, report); running again "
            "on it resumes. Default: evals/DATASET-TOPOLOGY-MODEL.",
            show_default=False,
        ),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(
            help="Write the HTML report here (default: OUT/report.html).", show_default=False
        ),
    ] = None,
    executor: Annotated[
        Literal["local", "ray"], typer.Option(help="local (one process) or ray.")
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(help="Ray cluster to join (default: start a local one).", show_default=False),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            help="Checkpointer of the runs: SQLite path or postgresql://... (required with "
            "--executor ray). Default: in memory.",
            show_default=False,
        ),
    ] = None,
    replay: Annotated[
        list[Path] | None,
        typer.Option(
            help="Answer tool calls from these recorded trajectories instead of the world.",
            show_default=False,
        ),
    ] = None,
    blocklist: Annotated[
        list[str] | None,
        typer.Option(
            help="Another host whose web results are withheld (repeatable; adds to the "
            "built-in list of hosts that publish benchmark answers).",
            show_default=False,
        ),
    ] = None,
    judge_model: Annotated[
        str | None,
        typer.Option(
            help="Also judge each answer with this model; reported as llm_judge@1 beside "
            "pass@1, never instead of it.",
            show_default=False,
        ),
    ] = None,
    json_out: Json = False,
    debug: Debug = False,
    *,
    settings: dict[str, Any],
) -> None:
    """Evaluate on a dataset, honestly: every task counted, pass@1, HTML report.

    Every task is in the denominator and failures are counted by kind; pass@1 is the
    headline; a terminal table and a standalone HTML report. Resumable."""
    roles = {
        "planner": planner_model,
        "coordinator": coordinator_model,
        "worker": worker_model,
        "verifier": verifier_model,
        "generator": generator_model,
    }
    flow = topology is TopologyName.flow

    def action() -> int:
        from workforce_graph.cli.execute import RunOptions, flow_role_models
        from workforce_graph.cli.summary import stderr_console
        from workforce_graph.evaluation.datasets import DatasetError, load_dataset
        from workforce_graph.evaluation.graphs import GraphSpec
        from workforce_graph.evaluation.leakage import DEFAULT_BLOCKLIST
        from workforce_graph.evaluation.report import print_report, write_html
        from workforce_graph.evaluation.runner import RESULTS, EvalError, Evaluation, read_rows
        from workforce_graph.models import FLOW_ROLES, ROLES, ModelSet, resolve_model
        from workforce_graph.trajectory.replay import ReplayedWorkers

        console = stderr_console()
        try:
            data = load_dataset(dataset, size=size)
        except DatasetError as exc:
            raise CliError(str(exc)) from exc
        given = RunOptions(
            model=model,
            role_models={k: v for k, v in roles.items() if v},
            base_url=base_url,
            topology="flow" if flow else "workforce",
        )
        role_models = flow_role_models(given) if flow else given.role_models
        ModelSet(default=model, roles=role_models, base_url=base_url).check(
            FLOW_ROLES if flow else ROLES
        )
        options: dict[str, Any] = dict(settings)
        spec = GraphSpec(
            topology="flow" if flow else "workforce",
            model=model,
            role_models=role_models,
            base_url=base_url,
            options=options,
            workers_factory=ReplayedWorkers([str(p) for p in replay]) if replay else None,
        )
        folder = out or Path("evals") / _slug(f"{data.name}-{topology.value}-{model or 'default'}")
        try:
            # Here too, not only when the run opens it: a bad --out before the progress line.
            output_folder(folder, holds="the evaluation")
        except FolderError as exc:
            raise CliError(str(exc)) from exc
        total = min(len(data.tasks), limit or len(data.tasks)) * samples

        def progress(row: dict[str, Any]) -> None:
            verdict = "right" if row["correct"] else row["failure"]
            console.print(
                f"{row['task_id']} #{row['sample']}: {verdict} ({row['duration_s']:.1f} s)",
                highlight=False,
            )

        evaluation = Evaluation(
            data,
            spec,
            folder,
            samples=samples,
            concurrency=concurrency,
            limit=limit,
            timeout_s=run_timeout,
            executor=executor,
            ray_address=ray_address,
            db=db,
            blocklist=DEFAULT_BLOCKLIST + tuple(blocklist or ()),
            on_result=progress,
            judge=resolve_model(judge_model, base_url=base_url) if judge_model else None,
        )
        console.print(f"evaluating {total} run(s) of {data.name} into {folder}", highlight=False)
        try:
            summary = asyncio.run(evaluation.run())
        except (EvalError, ValueError) as exc:
            raise CliError(str(exc)) from exc
        report = html or folder / "report.html"
        write_html(summary, read_rows(folder / RESULTS), report)
        (folder / "summary.json").write_text(json.dumps(summary, indent=2))
        if json_out:
            sys.stdout.write(json.dumps(summary) + "\n")
        else:
            print_report(summary, console)
        console.print(f"report: {report}", highlight=False)
        return 0

    guard(debug, action, base_url=base_url)
