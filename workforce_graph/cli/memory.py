"""``workforce-graph memory list|show|clear``: the memory of past runs in the run database.

The records are those the planner is shown (see :mod:`workforce_graph.past_runs`);
they live in the LangGraph store of the ``--db`` database, beside the checkpoints.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from workforce_graph.cli.options import Db, Debug, Json, guard
from workforce_graph.cli.render import short
from workforce_graph.cli.runs import format_time
from workforce_graph.past_runs import clear_records, find_record, load_records, worked
from workforce_graph.past_runs.retrieval import render_past_runs
from workforce_graph.persistence import open_run_store

__all__ = ["memory_app", "outcome_of"]

memory_app = typer.Typer(
    help="The memory of past runs the planner is shown: list, show or clear it "
    "(turn it off for a run with --no-memory).",
    no_args_is_help=True,
)

PastRunId = Annotated[
    str,
    typer.Argument(help="Key of the past run (a unique prefix is enough).", show_default=False),
]


def outcome_of(record: Mapping[str, Any]) -> str:
    """``worked``, ``incomplete`` or ``wrong`` (complete, but scored wrong)."""
    if worked(record):
        return "worked"
    return "wrong" if record.get("complete") else "incomplete"


def _row(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "key": record.get("key"),
        "thread_id": record.get("thread_id"),
        "topology": record.get("topology"),
        "request": record.get("request"),
        "outcome": outcome_of(record),
        "complete": record.get("complete"),
        "score": record.get("score"),
        "steps": len(record.get("steps") or []),
        "finished_at": record.get("finished_at"),
    }


async def list_memory(*, db: str | None, limit: int, as_json: bool) -> int:
    """Print the newest past runs (one line each, or JSON)."""
    async with open_run_store(db) as store:
        records = await load_records(store.store, limit=limit)
        where = store.target.describe()
    if as_json:
        print(json.dumps({"db": where, "past_runs": [_row(r) for r in records]}, indent=2))
        return 0
    console = Console(highlight=False)
    if not records:
        console.print(f"No past runs in {where}.", markup=False)
        return 0
    table = Table(show_edge=False, title=f"Past runs in {where}", title_justify="left")
    for column in ("key", "outcome", "topology", "finished", "steps", "request"):
        table.add_column(column, no_wrap=column != "request")
    for record in records:
        row = _row(record)
        table.add_row(
            str(row["key"]),
            row["outcome"],
            str(row["topology"]),
            format_time(row["finished_at"]),
            str(row["steps"]),
            short(str(row["request"] or ""), 60).replace("[", "\\["),
        )
    console.print(table)
    return 0


async def show_memory(key: str, *, db: str | None, as_json: bool) -> int:
    """Print one past run: as the planner is shown it, or the whole record as JSON."""
    async with open_run_store(db) as store:
        record = await find_record(store.store, key)
    if as_json:
        print(json.dumps(record, indent=2))
        return 0
    print(f"{record['key']} ({record.get('topology')}, {format_time(record.get('finished_at'))})")
    # As a planner sees it, without the heading (and without a token bound).
    print(render_past_runs([record], budget_tokens=1_000_000).split("\n", 1)[1])
    return 0


async def clear_memory(*, db: str | None, as_json: bool) -> int:
    """Delete every past run; say how many."""
    async with open_run_store(db) as store:
        deleted = await clear_records(store.store)
        where = store.target.describe()
    if as_json:
        print(json.dumps({"db": where, "deleted": deleted}))
    else:
        print(f"deleted {deleted} past run(s) from {where}")
    return 0


@memory_app.command("list")
def list_command(
    db: Db = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many.")] = 20,
    json_out: Json = False,
    debug: Debug = False,
) -> None:
    """List past runs, newest first: key, outcome, topology, finish, steps, request."""
    guard(debug, lambda: asyncio.run(list_memory(db=db, limit=limit, as_json=json_out)))


@memory_app.command("show")
def show_command(
    key: PastRunId, db: Db = None, json_out: Json = False, debug: Debug = False
) -> None:
    """Show a past run as the planner is shown it: request, outcome, plan, failures."""
    guard(debug, lambda: asyncio.run(show_memory(key, db=db, as_json=json_out)))


@memory_app.command("clear")
def clear_command(db: Db = None, json_out: Json = False, debug: Debug = False) -> None:
    """Delete every past run (the runs themselves stay: see 'workforce-graph runs')."""
    guard(debug, lambda: asyncio.run(clear_memory(db=db, as_json=json_out)))
