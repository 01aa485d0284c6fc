"""``--approve-plan``: show the plan under review, then approve, edit or reject it.

The graph pauses after planning with ``interrupt({"kind": "plan_review", "subtasks":
[...]})``; the reply resumes it as ``{"action": "approve"}``, ``{"action": "edit",
"subtasks": [...]}`` or ``{"action": "reject", "feedback": "..."}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
import tempfile
import threading
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from workforce_graph.cli.render import plan_tree

__all__ = ["EDITABLE_FIELDS", "ask_plan_review", "parse_subtasks", "read_line"]

EDITABLE_FIELDS = ("id", "description", "capabilities", "depends_on")

LineReader = Callable[[str], Awaitable[str]]


async def read_line(prompt: str) -> str:
    """Read one line from stdin without blocking the event loop.

    A daemon thread reads, so Ctrl-C still cancels the run at once and a pending read
    cannot keep the process alive (the default executor would wait for it at exit).

    Raises:
        EOFError: stdin is closed.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str | None] = loop.create_future()

    def deliver(line: str | None) -> None:
        if not future.done():  # the run may have been cancelled meanwhile
            future.set_result(line)

    def reader() -> None:
        try:
            line: str | None = sys.stdin.readline() or None
        except (OSError, ValueError):
            line = None
        loop.call_soon_threadsafe(deliver, line)

    sys.stderr.write(prompt)
    sys.stderr.flush()
    threading.Thread(target=reader, daemon=True, name="workforce-graph-stdin").start()
    line = await future
    if line is None:
        raise EOFError("stdin closed")
    return line.rstrip("\n")


def parse_subtasks(text: str) -> list[dict[str, Any]]:
    """Read an edited plan: a JSON list of subtasks or ``{"subtasks": [...]}``.

    Raises:
        ValueError: Not JSON, or a subtask without ``id`` and ``description``.

    Example:
        >>> parse_subtasks('[{"id": "s1", "description": "Do it", "capabilities": ["reasoning"]}]')
        [{'id': 's1', 'description': 'Do it', 'capabilities': ['reasoning'], 'depends_on': []}]
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from exc
    if isinstance(data, dict):
        data = data.get("subtasks")
    if not isinstance(data, list) or not data:
        raise ValueError('expected a non-empty JSON list of subtasks (or {"subtasks": [...]})')
    subtasks = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or not item.get("id") or not item.get("description"):
            raise ValueError(f"subtask {i + 1} needs at least an id and a description")
        subtasks.append({"capabilities": [], "depends_on": [], **item})
    return subtasks


def _editable(subtasks: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{k: s.get(k) for k in EDITABLE_FIELDS if k in s} for s in subtasks]


async def _edit_in_editor(editor: str, text: str) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="plan-", delete=False) as f:
        f.write(text)
        path = Path(f.name)
    try:
        process = await asyncio.create_subprocess_exec(*shlex.split(editor), str(path))
        if await process.wait() != 0:
            raise ValueError(f"the editor {editor!r} exited with status {process.returncode}")
        return path.read_text()
    finally:
        path.unlink(missing_ok=True)


async def _edit(subtasks: list[Mapping[str, Any]], console: Console, read: LineReader) -> str:
    current = json.dumps(_editable(subtasks), indent=2)
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if editor and sys.stdin.isatty():
        return await _edit_in_editor(editor, current)
    console.print("Paste the plan as JSON (a list of subtasks), then an empty line. Current plan:")
    console.print(current, markup=False, highlight=False)
    lines: list[str] = []
    while True:
        try:
            line = await read("")
        except EOFError:
            break
        if not line.strip() and lines:
            break
        lines.append(line)
    return "\n".join(lines)


async def ask_plan_review(
    value: Mapping[str, Any], console: Console, *, read: LineReader = read_line
) -> dict[str, Any]:
    """Show the plan under review and ask what to do with it.

    Args:
        value: The interrupt value (``kind``, ``subtasks``, optionally ``error`` when an
            edited plan was invalid).
        console: Where to show the plan (stderr).
        read: Reads one line of the user's reply.

    Returns:
        The resume value for ``Command(resume=...)``.

    Raises:
        EOFError: stdin closed before an answer (the run stays paused).
    """
    subtasks = list(value.get("subtasks") or [])
    done = [{"depends_on": [], **s, "status": "done"} for s in value.get("done") or []]
    console.print(
        plan_tree(done + [{"status": "pending", **s} for s in subtasks], title="Plan for review")
    )
    if value.get("error"):
        console.print(Text(f"The last edit was rejected: {value['error']}", style="red"))
    while True:
        choice = (await read("Approve this plan? [a]pprove, [e]dit, [r]eject: ")).strip().lower()
        if choice in ("a", "approve", "y", "yes"):
            return {"action": "approve"}
        if choice in ("r", "reject", "n", "no"):
            feedback = (await read("What should the planner change? ")).strip()
            return {"action": "reject", "feedback": feedback or "The reviewer rejected the plan."}
        if choice in ("e", "edit"):
            try:
                edited = parse_subtasks(await _edit(subtasks, console, read))
            except (ValueError, OSError) as exc:
                console.print(Text(f"Edit not used: {exc}", style="red"))
                continue
            return {"action": "edit", "subtasks": edited}
        console.print("Please answer a, e or r.")
