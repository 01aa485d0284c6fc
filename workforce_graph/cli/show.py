"""``workforce-graph show``: one stored run's status, plan, results, answer and usage.

It reads the run's latest checkpoint straight from the checkpointer: no graph is built
and no plugin is loaded, so ``show`` works (and is quick) whatever is installed now.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.text import Text

from workforce_graph.cli.errors import CliError
from workforce_graph.cli.render import plan_tree, usage_table
from workforce_graph.cli.runs import format_duration, format_time
from workforce_graph.cli.summary import run_summary, status_of
from workforce_graph.cli.turns import turn_items
from workforce_graph.persistence import open_run_store

__all__ = ["read_run_state", "show_run"]

_INTERRUPT_CHANNEL = "__interrupt__"
"""Where LangGraph keeps a pending ``interrupt()`` among a checkpoint's writes."""


async def read_run_state(
    checkpointer: Any, thread_id: str, checkpoint_id: str | None = None
) -> tuple[dict[str, Any], bool]:
    """A thread's latest state values (or those of ``checkpoint_id``, e.g. the end of a
    branch a rerun left), and whether the run is paused at an interrupt.

    Raises:
        CliError: No checkpoint ``checkpoint_id`` in the thread.
    """
    configurable = {"thread_id": thread_id}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    saved = await checkpointer.aget_tuple({"configurable": configurable})
    if saved is None and checkpoint_id:
        raise CliError(f"run {thread_id} has no checkpoint {checkpoint_id!r}")
    if saved is None:
        return {}, False
    values = {
        key: value
        for key, value in saved.checkpoint["channel_values"].items()
        # Internal channels: LangGraph's own ("__...") and edges ("branch:to:...").
        if not key.startswith("__") and ":" not in key
    }
    paused = any(write[1] == _INTERRUPT_CHANNEL for write in saved.pending_writes or ())
    return values, paused


async def show_run(
    thread: str, *, db: str | None = None, as_json: bool = False, checkpoint: str | None = None
) -> int:
    """``workforce-graph show``: a run's status, plan, results, answer and usage.

    Args:
        thread: The thread id, or an unambiguous prefix of it.
        db: ``--db`` value.
        as_json: One JSON object on stdout.
        checkpoint: Show the state at this checkpoint (``--checkpoint``), not the latest.

    Returns:
        The exit code (0).
    """
    async with open_run_store(db) as store:
        thread_id = await store.find_thread(thread)
        record = await store.get_run(thread_id)
        state, paused = await read_run_state(store.checkpointer, thread_id, checkpoint)
    # The run index knows the latest branch only; an earlier checkpoint speaks for itself.
    status = record.effective_status() if record and not checkpoint else status_of(state)
    if paused:
        status = "paused"
    summary = run_summary(state, thread_id, status=status)
    if record:
        summary.update(
            started_at=record.started_at,
            finished_at=record.finished_at,
            duration_s=record.duration_s,
            options=record.options,
        )
        summary["task"] = summary["task"] or record.task
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    out = Console(highlight=False)
    out.print(Text.assemble(("thread ", "bold"), thread_id, ("  status ", "bold"), status))
    if record:
        out.print(
            f"started {format_time(record.started_at)}, took {format_duration(record.duration_s)}",
            markup=False,
        )
    out.print(Text.assemble(("task: ", "bold"), str(summary["task"] or "")))
    subtasks = list(state.get("subtasks") or [])
    if subtasks:
        out.print(plan_tree(subtasks, title=f"Plan (replans: {summary['replans']})", results=True))
    elif summary.get("turns"):
        out.print(plan_tree(turn_items(summary["turns"]), title="Turns", results=True))
        if summary.get("stop_reason"):
            out.print(Text(f"stopped: {summary['stop_reason']}", style="yellow"))
    if summary["answer"]:
        out.print(Text("Answer", style="bold"))
        out.print(summary["answer"], markup=False)
    elif state.get("error"):
        out.print(Text(f"error: {state['error']}", style="red"))
    if summary["usage"]:
        out.print(usage_table(summary["usage"]))
    return 0
