"""What the terminal shows of a plan and its usage: the plan tracker, trees and tables.

The progress views built on them are in :mod:`workforce_graph.cli.views`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table
from rich.text import Text
from rich.tree import Tree

__all__ = [
    "PlanTracker",
    "plan_tree",
    "short",
    "turn_items",
    "usage_rows",
    "usage_table",
]

_STATUS_STYLE = {
    "pending": ("○", "dim"),
    "running": ("▶", "cyan"),
    "done": ("✓", "green"),
    "failed": ("✗", "red"),
    "retrying": ("↻", "yellow"),
}


def short(text: str, limit: int = 80) -> str:
    """One line of at most ``limit`` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass
class _Item:
    id: str
    description: str
    depends_on: list[str]
    status: str = "pending"
    worker: str | None = None
    started: float | None = None
    seconds: float | None = None
    reason: str | None = None


@dataclass
class PlanTracker:
    """What the progress views show, kept up to date from events and state values."""

    started: float = field(default_factory=time.monotonic)
    items: dict[str, _Item] = field(default_factory=dict)
    replans: int = 0
    usage: dict[str, dict[str, int]] = field(default_factory=dict)
    phase: str = "planning"

    def apply_event(self, event: Mapping[str, Any]) -> None:
        """Update from one progress event (see ``workforce_graph.events``)."""
        name = event.get("event")
        item = self.items.get(str(event.get("subtask_id")))
        if name == "plan":
            old = self.items
            self.items = {}
            for s in event.get("subtasks", []):
                kept = old.get(s["id"])
                new = _Item(
                    s["id"],
                    s.get("description", ""),
                    list(s.get("depends_on", [])),
                    status=s.get("status", "pending"),
                )
                if kept and new.status == "done":
                    new.worker, new.seconds = kept.worker, kept.seconds
                self.items[s["id"]] = new
            self.replans = int(event.get("replans", self.replans))
            self.phase = "running"
        elif name == "replan":
            self.replans = int(event.get("replans", self.replans + 1))
            self.phase = "replanning"
        elif name == "answer":
            self.phase = "answered"
        elif name == "turn":
            # The flow topology: each turn is one item, added as the planner picks it.
            sid = str(event.get("subtask_id"))
            self.items[sid] = _Item(
                sid, str(event.get("sub_goal") or ""), [], worker=event.get("worker") or None
            )
            self.phase = f"turn {event.get('turn')}"
        elif name == "verdict":
            self.phase = "answering" if event.get("stop") else "planning"
        elif item is not None:
            if event.get("worker"):
                item.worker = str(event["worker"])
            if name == "started":
                item.status, item.started = "running", time.monotonic()
            elif name == "finished":
                item.status, item.seconds = "done", event.get("seconds")
            elif name == "failed":
                item.status, item.reason = "failed", str(event.get("reason") or "")
            elif name == "retry":
                item.status = "retrying"

    def apply_values(self, values: Mapping[str, Any]) -> None:
        """Update from a full state (``values`` stream): statuses, workers and usage."""
        if isinstance(values.get("usage"), Mapping):
            self.usage = {k: dict(v) for k, v in values["usage"].items()}
        self.replans = int(values.get("replans") or self.replans)
        subtasks = values.get("subtasks") or turn_items(values.get("memory") or [])
        if not subtasks:
            return
        for s in subtasks:
            item = self.items.get(s["id"])
            if item is None:
                item = self.items[s["id"]] = _Item(s["id"], s["description"], list(s["depends_on"]))
            item.worker = s.get("worker") or item.worker
            # State values lag the events: "pending" there may already be running here.
            if not (item.status in ("running", "retrying") and s["status"] == "pending"):
                item.status = s["status"]
            item.reason = s.get("failure_reason") or item.reason

    @property
    def tokens(self) -> int:
        return sum(
            u.get("input_tokens", 0) + u.get("output_tokens", 0) for u in self.usage.values()
        )

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def turn_items(memory: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The flow topology's turns as subtask-shaped items (id ``t<n>``, sub-goal, worker)."""
    return [
        {
            "id": f"t{r['turn']}",
            "description": r.get("sub_goal", ""),
            "capabilities": [],
            "depends_on": [],
            "worker": r.get("worker") or None,
            "status": r.get("status"),
            "result": r.get("result"),
            "failure_reason": r.get("failure_reason"),
            "attempts": 1,
            "seconds": r.get("seconds"),
            "verdict": r.get("verdict"),
        }
        for r in memory
    ]


def plan_tree(
    subtasks: Sequence[Mapping[str, Any]],
    *,
    title: str = "Plan",
    results: bool = False,
    now: float | None = None,
) -> Tree:
    """The plan as a tree: status mark, id, worker, description, and what it waits on.

    Args:
        subtasks: Subtask dicts (state) or tracker items as dicts.
        title: The tree's label.
        results: Show each subtask's result (or failure reason) under it.
        now: ``time.monotonic()`` for the running time of running subtasks.

    Returns:
        A rich ``Tree``.
    """
    tree = Tree(Text(title, style="bold"))
    for s in subtasks:
        mark, style = _STATUS_STYLE.get(str(s.get("status")), ("?", ""))
        line = Text(f"{mark} ", style=style)
        line.append(str(s["id"]), style="bold")
        line.append(f" [{s.get('worker') or '—'}] ", style="magenta")
        line.append(short(str(s.get("description", "")), 70))
        if s.get("status") == "running" and s.get("started") and now:
            line.append(f"  running {now - s['started']:.0f}s", style="cyan")
        elif s.get("status") == "done" and s.get("seconds") is not None:
            line.append(f"  {s['seconds']:.1f}s", style="dim")
        elif s.get("status") == "pending" and s.get("depends_on"):
            line.append(f"  after {', '.join(s['depends_on'])}", style="dim")
        node = tree.add(line)
        reason = s.get("failure_reason") or s.get("reason")
        if s.get("status") in ("failed", "retrying") and reason:
            node.add(Text(short(str(reason), 100), style="red"))
        elif results and s.get("result"):
            node.add(Text(short(str(s["result"]), 300), style="dim"))
    return tree


def usage_rows(usage: Mapping[str, Mapping[str, int]]) -> list[tuple[str, int, int, int]]:
    """``(key, calls, input_tokens, output_tokens)`` rows, roles first, then workers."""
    order = {"planner": 0, "coordinator": 1, "verifier": 3, "generator": 4}
    keys = sorted(usage, key=lambda k: (order.get(k, 2), k))
    return [
        (
            k,
            int(usage[k].get("calls", 0)),
            int(usage[k].get("input_tokens", 0)),
            int(usage[k].get("output_tokens", 0)),
        )
        for k in keys
    ]


def usage_table(usage: Mapping[str, Mapping[str, int]]) -> Table:
    """Token usage per role and per worker, with a total row."""
    table = Table(title="Usage", title_justify="left", show_edge=False)
    table.add_column("role / worker")
    for column in ("calls", "input tokens", "output tokens"):
        table.add_column(column, justify="right")
    rows = usage_rows(usage)
    for key, calls, tokens_in, tokens_out in rows:
        table.add_row(key, str(calls), f"{tokens_in:,}", f"{tokens_out:,}")
    if rows:
        table.add_section()
        totals = (sum(r[1] for r in rows), sum(r[2] for r in rows), sum(r[3] for r in rows))
        table.add_row("total", *(f"{t:,}" for t in totals), style="bold")
    return table
