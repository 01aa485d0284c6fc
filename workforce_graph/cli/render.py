"""How a run looks in the terminal: a rich live view, plain lines, or NDJSON events.

Progress always goes to stderr (or, with ``--events``, to stdout as NDJSON), so stdout
carries only the answer and can be piped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from workforce_graph.cli.turns import turn_items

__all__ = [
    "EventsView",
    "LiveView",
    "PlainView",
    "PlanTracker",
    "ProgressView",
    "QuietView",
    "plan_tree",
    "short",
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
    turns: int = 0
    """Turns taken (flow topology)."""

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
            self.turns = int(event.get("turn") or self.turns + 1)
            self.phase = f"turn {self.turns}"
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


class ProgressView:
    """Receives a run's progress; the base class shows nothing."""

    def __init__(self) -> None:
        self.tracker = PlanTracker()

    def start(self, thread_id: str, task: str, *, where: str = "", resumed: bool = False) -> None:
        """The run begins (or resumes); ``where`` names the run store."""

    def event(self, event: Mapping[str, Any]) -> None:
        self.tracker.apply_event(event)

    def values(self, values: Mapping[str, Any]) -> None:
        self.tracker.apply_values(values)

    def note(self, text: str) -> None:
        """A remark about the run (not a progress event)."""

    def pause(self) -> None:
        """Stop drawing (before prompting the user)."""

    def resume(self) -> None:
        """Draw again after :meth:`pause`."""

    def stop(self) -> None:
        """The run ended; leave the final picture on screen."""


QuietView = ProgressView


class PlainView(ProgressView):
    """One line per event, for logs and pipes (no TTY)."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__()
        self.stream = stream

    def _line(self, text: str) -> None:
        self.stream.write(f"[{self.tracker.elapsed():6.1f}s] {text}\n")
        self.stream.flush()

    def start(self, thread_id: str, task: str, *, where: str = "", resumed: bool = False) -> None:
        self._line(
            f"{'resuming' if resumed else 'run'} {thread_id}"
            + (f" ({where})" if where else "")
            + f": {short(task, 100)}"
        )

    def note(self, text: str) -> None:
        self._line(text)

    def event(self, event: Mapping[str, Any]) -> None:
        super().event(event)
        name, sid, worker = event.get("event"), event.get("subtask_id"), event.get("worker")
        if name == "plan":
            subtasks = event.get("subtasks", [])
            given = " (given)" if event.get("source") == "given" else ""
            self._line(f"plan: {len(subtasks)} subtask(s){given}")
            for s in subtasks:
                after = f" (after {', '.join(s['depends_on'])})" if s.get("depends_on") else ""
                done = " [done]" if s.get("status") == "done" else ""
                self._line(f"  {s['id']}: {short(s.get('description', ''), 90)}{after}{done}")
        elif name == "plan_error":
            self._line(f"no plan: {short(str(event.get('error')), 200)}")
        elif name == "plan_fallback":
            reason = short(str(event.get("reason")), 160)
            self._line(f"no valid plan, running the request as one subtask: {reason}")
        elif name == "call_failed":
            self._line(f"{event.get('role')} call failed: {short(str(event.get('reason')), 200)}")
        elif name == "assigned":
            self._line(f"{sid} -> {worker}")
        elif name == "started":
            self._line(f"{sid} started ({worker})")
        elif name == "finished":
            self._line(f"{sid} finished ({worker}, {event.get('seconds', 0):.1f}s)")
        elif name == "failed":
            self._line(
                f"{sid} failed ({worker or 'no worker'}): {short(str(event.get('reason')), 160)}"
            )
        elif name == "retry":
            self._line(f"{sid} retry, attempt {event.get('attempt')}")
        elif name == "replan":
            reasons = "; ".join(event.get("reasons", []))
            self._line(f"replan {event.get('replans')}: {short(reasons, 200)}")
        elif name == "answer":
            self._line(f"answer ({'complete' if event.get('complete') else 'incomplete'})")
        elif name == "turn":
            what = event.get("error") or short(str(event.get("sub_goal")), 100)
            self._line(f"turn {event.get('turn')} ({event.get('worker') or 'no worker'}): {what}")
        elif name == "verdict":
            why = event.get("stop_reason") or event.get("reason") or ""
            self._line(f"{sid} verdict {str(event.get('verdict')).upper()}: {short(str(why), 160)}")


class EventsView(ProgressView):
    """NDJSON progress events (``--events``), one JSON object per line."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__()
        self.stream = stream

    def emit(self, payload: Mapping[str, Any]) -> None:
        self.stream.write(json.dumps(payload, default=str) + "\n")
        self.stream.flush()

    def start(self, thread_id: str, task: str, *, where: str = "", resumed: bool = False) -> None:
        self.emit(
            {
                "event": "resume" if resumed else "run",
                "time": time.time(),
                "thread_id": thread_id,
                "task": task,
            }
        )

    def event(self, event: Mapping[str, Any]) -> None:
        super().event(event)
        self.emit(event)


class LiveView(ProgressView):
    """A rich live view on a terminal: header, plan tree with workers and statuses."""

    def __init__(self, console: Console, *, max_replans: int | None = None) -> None:
        super().__init__()
        self.console = console
        self.max_replans = max_replans
        self.thread_id = ""
        self._live: Live | None = None

    def __rich__(self) -> RenderableType:
        t = self.tracker
        header = Text()
        header.append(f"{self.thread_id}  ", style="dim")
        header.append(f"{t.elapsed():.1f}s  ·  {t.tokens:,} tokens  ·  ")
        budget = f"/{self.max_replans}" if self.max_replans is not None else ""
        header.append(t.phase if t.turns else f"replans {t.replans}{budget}  ·  {t.phase}")
        if not t.items:
            return Group(header, Text("planning…", style="dim"))
        items = [dict(vars(i)) for i in list(t.items.values())]
        return Group(header, plan_tree(items, now=time.monotonic()))

    def start(self, thread_id: str, task: str, *, where: str = "", resumed: bool = False) -> None:
        self.thread_id = thread_id
        self.console.print(
            Text.assemble(
                ("resuming " if resumed else "run ", "bold"),
                thread_id,
                (f" ({where})" if where else "", "dim"),
                "\n",
                ("task: ", "bold"),
                short(task, 200),
            )
        )
        self.resume()

    def note(self, text: str) -> None:
        self.console.print(text, markup=False, style="dim")

    def pause(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def resume(self) -> None:
        if self._live is None:
            self._live = Live(self, console=self.console, refresh_per_second=4, transient=False)
            self._live.start()

    def stop(self) -> None:
        self.pause()
