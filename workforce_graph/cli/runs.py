"""``workforce-graph runs``: the past runs kept in the run store."""

from __future__ import annotations

import json
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from workforce_graph.cli.render import short
from workforce_graph.persistence import RunRecord, open_run_store

__all__ = ["format_duration", "format_time", "list_runs", "run_row"]

_STATUS_STYLE = {
    "answered": "green",
    "incomplete": "yellow",
    "failed": "red",
    "interrupted": "magenta",
    "paused": "cyan",
    "running": "cyan",
}


def format_time(timestamp: float | None) -> str:
    """Local date and time, to the second."""
    if not timestamp:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def format_duration(seconds: float | None) -> str:
    """``42.0s``, ``3m05s`` or ``1h02m``."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def run_row(record: RunRecord) -> dict[str, Any]:
    """A run as JSON: thread id, task, status, start, duration, finish."""
    return {
        "thread_id": record.thread_id,
        "task": record.task,
        "status": record.effective_status(),
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "duration_s": record.duration_s,
        "model": record.options.get("model"),
        "topology": record.options.get("topology") or "workforce",
    }


async def list_runs(*, db: str | None = None, limit: int = 20, as_json: bool = False) -> int:
    """Print the most recent runs, newest first.

    Args:
        db: ``--db`` value.
        limit: How many runs.
        as_json: A JSON list instead of a table.

    Returns:
        The exit code (0).
    """
    async with open_run_store(db) as store:
        records = await store.list_runs(limit)
        where = store.target.describe()
    if as_json:
        print(json.dumps([run_row(r) for r in records], indent=2))
        return 0
    console = Console(highlight=False)
    if not records:
        console.print(
            f'No runs in {where} yet. Start one with: workforce-graph run "TASK"', markup=False
        )
        return 0
    table = Table(show_edge=False, title=f"Runs in {where}", title_justify="left")
    for column in ("thread", "status", "topology", "started", "duration", "task"):
        table.add_column(column, no_wrap=column != "task")
    for record in records:
        status = record.effective_status()
        table.add_row(
            record.thread_id,
            f"[{_STATUS_STYLE.get(status, '')}]{status}[/]",
            str(record.options.get("topology") or "workforce"),
            format_time(record.started_at),
            format_duration(record.duration_s),
            short(record.task, 60).replace("[", "\\["),
        )
    console.print(table)
    return 0
