"""Summarising a finished run: its status, its ``--json`` object and its printed outcome."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from rich.console import Console
from rich.text import Text

from workforce_graph.cli.errors import EXIT_ANSWERED, EXIT_INCOMPLETE
from workforce_graph.cli.render import EventsView, ProgressView, usage_table
from workforce_graph.cli.turns import turn_items
from workforce_graph.persistence import RunStatus

__all__ = ["OutputMode", "finish_run", "run_summary", "status_of", "stderr_console"]

OutputMode = Literal["auto", "json", "events"]


def stderr_console() -> Console:
    """A console on stderr for progress and notes, so stdout carries only the answer."""
    return Console(stderr=True, highlight=False, soft_wrap=False)


def run_summary(
    state: Mapping[str, Any], thread_id: str, *, status: str | None = None
) -> dict[str, Any]:
    """The ``--json`` object of a run: answer, completeness, plan, results, usage.

    Args:
        state: The run's final (or current) state values.
        thread_id: The run's thread id.
        status: The run's status, when known.

    Returns:
        A JSON-friendly dict.
    """
    answer = state.get("answer") or {}
    # The flow topology's turns are listed like subtasks (ids t1, t2, ...).
    subtasks = list(state.get("subtasks") or turn_items(state.get("memory") or []))
    summary = {
        "thread_id": thread_id,
        "status": status,
        "task": state.get("task"),
        "answer": answer.get("text"),
        "complete": bool(answer.get("complete")),
        "failed": list(answer.get("failed") or []),
        "plan": [
            {k: s.get(k) for k in ("id", "description", "capabilities", "depends_on", "worker")}
            for s in subtasks
        ],
        "results": [
            {
                k: s.get(k)
                for k in ("id", "worker", "status", "result", "failure_reason", "attempts")
            }
            for s in subtasks
        ],
        "replans": int(state.get("replans") or 0),
        "usage": dict(state.get("usage") or {}),
        "error": state.get("error"),
        "plan_fallback": state.get("plan_fallback"),
    }
    if "memory" in state:
        summary.update(
            topology="flow",
            turns=list(state.get("memory") or []),
            stop=state.get("stop"),
            stop_reason=state.get("stop_reason"),
        )
    return summary


def status_of(state: Mapping[str, Any]) -> RunStatus:
    """A finished run's status from its state: answered, incomplete or failed."""
    answer = state.get("answer")
    if not answer:
        return "failed"
    return "answered" if answer.get("complete") else "incomplete"


def finish_run(
    state: Mapping[str, Any], thread_id: str, mode: OutputMode, view: ProgressView
) -> int:
    """Print a finished run's outcome in ``mode`` and return its exit code."""
    status = status_of(state)
    code = EXIT_ANSWERED if status == "answered" else EXIT_INCOMPLETE
    summary = run_summary(state, thread_id, status=status)
    if mode == "json":
        print(json.dumps(summary, indent=2, default=str))
    elif mode == "events":
        assert isinstance(view, EventsView)
        view.emit(
            {
                "event": "end",
                "thread_id": thread_id,
                "status": status,
                "complete": summary["complete"],
                "usage": summary["usage"],
                "exit_code": code,
            }
        )
    else:
        err = stderr_console()
        if summary["usage"]:
            err.print(usage_table(summary["usage"]))
        print(summary["answer"] or state.get("error") or "(no answer)", flush=True)
        if status != "answered":
            err.print(Text(f"The answer is incomplete (thread {thread_id}).", style="yellow"))
    return code
