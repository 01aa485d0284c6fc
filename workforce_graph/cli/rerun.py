"""``workforce-graph rerun THREAD --from ID``: run one subtask and its dependants again.

The rest of the plan keeps its results and the planner is not asked again; the run
goes on from the coordinator on a new branch of the same thread (see
:mod:`workforce_graph.rerun`), so ``show`` shows the new branch and the old one stays in
the thread's checkpoint history.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer
from langchain_core.runnables import RunnableConfig

from workforce_graph.cli.errors import CliError
from workforce_graph.cli.execute import drive_run, open_stored_run, progress_view
from workforce_graph.cli.interrupt import run_interruptibly
from workforce_graph.cli.mcp import checked_mcp_config, started_mcp_workers
from workforce_graph.cli.options import (
    BaseUrl,
    Db,
    Debug,
    Events,
    Json,
    Model,
    Thread,
    guard,
    output_mode,
    with_role_model_options,
    with_setting_options,
)
from workforce_graph.cli.preflight import check_models
from workforce_graph.cli.run_options import RunOptions, build_graph, resolve_models
from workforce_graph.cli.summary import OutputMode
from workforce_graph.lifecycle import UnknownSubtaskError
from workforce_graph.persistence import RunRecord, open_run_store
from workforce_graph.rerun import NoPlanToRerun, rerun_from, rerun_values

__all__ = ["rerun_command", "rerun_run"]


async def rerun_run(
    thread: str,
    subtask_id: str,
    *,
    description: str | None = None,
    options: RunOptions,
    db: str | None = None,
    mode: OutputMode = "auto",
) -> int:
    """``workforce-graph rerun``: reopen ``subtask_id`` and its dependants, and run on.

    Args:
        thread: The thread id, or an unambiguous prefix of it.
        subtask_id: The subtask to run again.
        description: Replaces that subtask's description first.
        options: Options overriding the ones stored with the run.
        db: ``--db`` value.
        mode: Output mode, as for :func:`~workforce_graph.cli.execute.start_run`.

    Returns:
        The exit code.

    Raises:
        CliError: Unknown thread or subtask, a run still running, or no plan to rerun.
    """
    async with open_run_store(db) as store:
        thread_id, record, merged, snapshot = await open_stored_run(
            store, thread, options, doing="rerunning"
        )
        stored = record.options if record else {}
        config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
        # The subtask id is checked before the models: a typo costs no server call.
        try:
            rerun_values(snapshot.values or {}, subtask_id, description=description)
        except (UnknownSubtaskError, NoPlanToRerun) as exc:
            raise CliError(f"run {thread_id}: {exc}") from exc
        mcp_config = checked_mcp_config(merged.mcp)  # the run's --mcp file, as it started
        models = resolve_models(merged)
        await check_models(
            merged.effective_base_url(), models, call_timeout_s=merged.effective_call_timeout()
        )
        mcp = await started_mcp_workers(mcp_config)
        graph = build_graph(merged, store.checkpointer, models, store.store, mcp=mcp)
        await rerun_from(graph, config, subtask_id, description=description)
        task = str(snapshot.values.get("task") or (record.task if record else ""))
        await store.record_start(RunRecord.new(thread_id, task, {**stored, **asdict(merged)}))
        view = progress_view(mode, merged)
        view.start(thread_id, task, where=store.target.describe(), resumed=True)
        view.note(f"rerunning from {subtask_id}")
        # Where the old branch ends, so its answer can still be shown after the rerun.
        ended = snapshot.config["configurable"].get("checkpoint_id")
        if ended:
            db_part = f" --db {store.target.describe()}" if db else ""
            view.note(
                f"earlier branch: workforce-graph show {thread_id} --checkpoint {ended}{db_part}"
            )
        # ``None`` continues the thread's latest checkpoint: the branch just written.
        return await drive_run(graph, store, thread_id, None, merged, mode, view, db)


@with_setting_options
@with_role_model_options
def rerun_command(
    thread: Thread,
    from_id: Annotated[
        str,
        typer.Option(
            "--from",
            help="The subtask to run again, with every subtask that depends on it.",
            show_default=False,
        ),
    ],
    description: Annotated[
        str | None,
        typer.Option(
            "--description",
            help="Replace that subtask's description before it runs again.",
            show_default=False,
        ),
    ] = None,
    model: Model = None,
    base_url: BaseUrl = None,
    json_out: Json = False,
    events: Events = False,
    db: Db = None,
    debug: Debug = False,
    *,
    role_models: dict[str, str],
    settings: dict[str, Any],
) -> None:
    """Run a subtask and everything that depends on it again, keeping the other results.

    The planner is not asked again; a new answer is written. The run continues on a new
    branch of its thread: show displays the new branch. Options not given are those
    the run started with.
    """
    options = RunOptions(model=model, role_models=role_models, base_url=base_url, settings=settings)

    def action() -> int:
        mode = output_mode(json_out, events)
        return run_interruptibly(
            rerun_run(thread, from_id, description=description, options=options, db=db, mode=mode)
        )

    guard(debug, action, base_url=options.effective_base_url())
