"""``workforce-graph eval DATASET``: run a benchmark honestly and report it, or compare
planners on it (``--compare``)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from workforce_graph.cli.errors import CliError
from workforce_graph.cli.eval_compare import compare_planners, compared_planners
from workforce_graph.cli.eval_progress import Progress, already_done, check_out, slug
from workforce_graph.cli.mcp import McpFile, checked_mcp_config, mcp_path
from workforce_graph.cli.options import (
    DEFAULT_TOPOLOGY_NAME,
    BaseUrl,
    Debug,
    Json,
    Model,
    TopologyOption,
    guard,
    with_role_model_options,
    with_setting_options,
)

if TYPE_CHECKING:
    pass

__all__ = ["Progress", "eval_command"]


@with_setting_options
@with_role_model_options
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
    topology: TopologyOption = DEFAULT_TOPOLOGY_NAME,
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
    exact_workers: Annotated[
        bool,
        typer.Option(
            "--exact-workers",
            help="With curriculum:SEED: exact stand-ins of the code, reasoning and finance "
            "workers (the same cards, each doing its own kind of work exactly from what "
            "the planner wrote), so the outcome is the planner's decision.",
        ),
    ] = False,
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
    compare: Annotated[
        list[str] | None,
        typer.Option(
            "--compare",
            help="Compare planners: repeat it, one planner model each (--compare local "
            "--compare gguf:trained.gguf); the same tasks run with each, everything else "
            "the same, interleaved; the first is the baseline of the paired test. One "
            "sub-folder of OUT per planner; OUT/comparison.json and OUT/report.html.",
            show_default=False,
        ),
    ] = None,
    temperature: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Sampling temperature of the run's models (0: each model as its name "
            "builds it; local decodes greedily).",
        ),
    ] = 0.0,
    seed: Annotated[
        int | None,
        typer.Option(
            help="Seed of the sampling; sample k of a task uses SEED+k, so --samples N "
            "at a temperature above 0 gives N different runs, each reproducible. "
            "Default: 0 when --temperature is above 0.",
            show_default=False,
        ),
    ] = None,
    json_out: Json = False,
    mcp: McpFile = None,
    debug: Debug = False,
    *,
    role_models: dict[str, str],
    settings: dict[str, Any],
) -> None:
    """Evaluate on a dataset, honestly: every task counted, pass@1, HTML report.

    Every task is in the denominator and failures are counted by kind; pass@1 is the
    headline; a terminal table and a standalone HTML report. Resumable. With --compare,
    planners side by side with 95% intervals and the paired McNemar test."""
    planner_model = role_models.get("planner")

    def action() -> int:
        from workforce_graph.cli.preflight import check_models
        from workforce_graph.cli.run_options import RunOptions, topology_role_models
        from workforce_graph.cli.summary import stderr_console
        from workforce_graph.evaluation.datasets import DatasetError, load_dataset
        from workforce_graph.evaluation.graphs import GraphSpec
        from workforce_graph.evaluation.leakage import DEFAULT_BLOCKLIST
        from workforce_graph.evaluation.report import print_report, write_html
        from workforce_graph.evaluation.runner import (
            DAMAGED,
            RESULTS,
            TRAJECTORIES,
            EvalError,
            Evaluation,
            model_label,
            read_rows,
        )
        from workforce_graph.models import ModelSet, resolve_model
        from workforce_graph.topologies import TOPOLOGIES

        planners = compared_planners(compare, planner_model, executor)
        workers_factory = chosen_workers(dataset, replay, exact_workers)
        if planners and settings.get("memory"):
            raise CliError(
                "--memory cannot be combined with --compare: each side would learn from "
                "the other's runs"
            )
        console = stderr_console()
        try:
            data = load_dataset(dataset, size=size)
        except DatasetError as exc:
            raise CliError(str(exc)) from exc
        given = RunOptions(
            model=model,
            role_models=role_models,
            base_url=base_url,
            settings=dict(settings),
            topology=str(topology),
        )
        own_role_models = topology_role_models(given)
        options: dict[str, Any] = dict(settings)
        if mcp is not None:
            # Checked now; each run's graph starts the servers to list their tools.
            checked_mcp_config(mcp_path(mcp))
            options["mcp_servers"] = mcp_path(mcp)
        spec = GraphSpec(
            topology=str(topology),
            model=model,
            role_models=own_role_models,
            base_url=base_url,
            options=options,
            workers_factory=workers_factory,
            temperature=temperature,
            seed=seed,
        )
        checked: list[str | None] = [*planners] or [None]  # each side's planner, or as given
        used: dict[str, Any] = {}  # every model a run or the judge calls, to check its server
        run_roles = TOPOLOGIES[spec.topology].roles
        for planner in checked:
            planned = {**own_role_models, "planner": planner} if planner else own_role_models
            # Every model resolved now, so a configuration error shows before any run.
            models = ModelSet(default=model, roles=planned, base_url=base_url)
            models.check(run_roles)
            used.update({f"{planner or ''}/{role}": models.for_role(role) for role in run_roles})
            if spec.sampling:
                try:  # a model that cannot sample (no temperature) is refused now too
                    replace(spec, role_models=planned).sampled_models()
                except ValueError as exc:
                    raise CliError(str(exc)) from exc
        judge = resolve_model(judge_model, base_url=base_url) if judge_model else None
        if judge is not None:
            used["judge"] = judge

        def preflight() -> None:
            # As run does: against a server that refuses or lacks a model, every run would
            # fail only after the client's retries, each counted as the run's own failure.
            asyncio.run(
                check_models(
                    given.effective_base_url(),
                    used,
                    call_timeout_s=given.effective_call_timeout(),
                )
            )

        shared: dict[str, Any] = {
            "samples": samples,
            "concurrency": concurrency,
            "limit": limit,
            "timeout_s": run_timeout,
            "db": db,
            "blocklist": DEFAULT_BLOCKLIST + tuple(blocklist or ()),
            "judge": judge,
        }
        if planners:
            return compare_planners(
                data,
                spec,
                planners,
                console,
                shared,
                preflight,
                out=out,
                html=html,
                json_out=json_out,
            )
        folder = out or Path("evals") / slug(f"{data.name}-{topology.value}-{model_label(spec)}")
        check_out(folder)
        tasks = data.tasks[:limit] if limit else data.tasks
        keys = {(t.task_id, k) for t in tasks for k in range(samples)}
        progress = Progress(
            len(keys), already_done([folder / RESULTS], keys), concurrency=concurrency
        )
        if progress.done < progress.total:  # a finished evaluation needs no model
            preflight()

        def started(unit: Any) -> None:
            console.print(f"{unit.task_id} #{unit.sample}: running", highlight=False)

        def finished(row: dict[str, Any]) -> None:
            console.print(progress.run_line(row), highlight=False)

        evaluation = Evaluation(
            data,
            spec,
            folder,
            executor=executor,
            ray_address=ray_address,
            on_result=finished,
            on_start=started,
            **shared,
        )
        console.print(
            f"evaluating {progress.total} run(s) of {data.name} into {folder}"
            + (f" ({progress.done} done before)" if progress.done else ""),
            highlight=False,
        )
        try:
            summary = asyncio.run(evaluation.run())
        except (EvalError, ValueError) as exc:
            raise CliError(str(exc)) from exc
        for name, count in evaluation.set_aside.items():
            if count:
                console.print(
                    f"{name}: {count} cut or repeated line(s) set aside in {name}{DAMAGED}",
                    highlight=False,
                )
        report = html or folder / "report.html"
        write_html(
            summary,
            read_rows(folder / RESULTS),
            report,
            trajectories=folder / TRAJECTORIES,
            questions={t.task_id: t.question for t in tasks},
        )
        (folder / "summary.json").write_text(json.dumps(summary, indent=2))
        if json_out:
            sys.stdout.write(json.dumps(summary) + "\n")
        else:
            print_report(summary, console)
            if summary["memory"].get("on"):
                console.print(
                    f"memory: {summary['memory'].get('past_runs', 0)} past run(s) at the start, "
                    f"{summary['memory'].get('questions_in_memory', 0)} of the evaluated "
                    "questions among them (withheld from their own runs)",
                    highlight=False,
                )
            fallback = summary["plan_fallback"]
            if fallback["runs"]:
                console.print(
                    f"plan_fallback: {fallback['runs']} run(s) answered as one subtask for want "
                    f"of a valid plan, {fallback['correct']} of them right",
                    highlight=False,
                )
        console.print(f"report: {report}", highlight=False)
        return 0

    guard(debug, action, base_url=base_url)


def chosen_workers(
    dataset: str, replay: list[Path] | None, exact: bool
) -> Callable[[], Any] | None:
    """The workers factory the options ask for: tools replayed from recorded runs, the
    curriculum's exact workers, or ``None`` (the installed workers)."""
    if exact:
        from workforce_graph.evaluation.datasets.exact_workers import ExactWorkers

        if replay:
            raise CliError("--exact-workers and --replay cannot be combined: choose one")
        if not dataset.startswith("curriculum:"):
            raise CliError(
                f"--exact-workers works with the generated curriculum (curriculum:SEED), "
                f"not {dataset}: its workers know only the curriculum's kinds of task"
            )
        factory = ExactWorkers()
        try:
            factory()
        except ValueError as exc:
            raise CliError(str(exc)) from exc
        return factory
    if replay:
        from workforce_graph.trajectory.replay import ReplayedWorkers

        return ReplayedWorkers([str(p) for p in replay])
    return None
