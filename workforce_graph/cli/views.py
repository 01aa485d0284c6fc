"""How a run's progress looks in the terminal: a rich live view, plain lines, or NDJSON.

Progress always goes to stderr (or, with ``--events``, to stdout as NDJSON), so stdout
carries only the answer and can be piped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import IO, Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from workforce_graph.cli.render import PlanTracker, plan_tree, short

__all__ = ["EventsView", "LiveView", "PlainView", "ProgressView", "QuietView"]


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
            self._line(f"plan: {len(subtasks)} subtask(s)")
            for s in subtasks:
                after = f" (after {', '.join(s['depends_on'])})" if s.get("depends_on") else ""
                done = " [done]" if s.get("status") == "done" else ""
                self._line(f"  {s['id']}: {short(s.get('description', ''), 90)}{after}{done}")
        elif name == "plan_error":
            self._line(f"no plan: {short(str(event.get('error')), 200)}")
        elif name == "plan_fallback":
            reason = short(str(event.get("reason")), 160)
            self._line(f"no valid plan, running the request as one subtask: {reason}")
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
        header.append(f"replans {t.replans}{budget}  ·  {t.phase}")
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
