"""An evaluation's JSON-lines files (``results.jsonl``, ``trajectories.jsonl``) read back
and made whole again after an interruption: the first row of each (task, sample) is
final, and a line cut by a kill is set aside, not lost, so a resumed evaluation redoes
only that run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

__all__ = ["DAMAGED", "Verdict", "heal_jsonl", "read_rows", "run_key"]

DAMAGED = ".damaged"
"""Suffix of the file beside ``results.jsonl`` or ``trajectories.jsonl`` that keeps the
lines opening the folder set aside (``results.jsonl.damaged``)."""


def run_key(row: Any) -> tuple[str, int] | None:
    """The (task, sample) of a result row, or ``None`` for a line that is not one."""
    if not isinstance(row, dict) or not isinstance(row.get("task_id"), str):
        return None
    sample = row.get("sample")
    return (row["task_id"], sample) if isinstance(sample, int) else None


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The result rows of ``path``, the first of each (task, sample) only: its first
    result is final. Lines that are not rows (cut by an interruption) are skipped."""
    if not path.exists():
        return []
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    # Replacing undecodable bytes: a line cut inside a character fails as JSON below.
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # that run is redone
        key = run_key(row)
        if key is not None and key not in seen:
            seen.add(key)
            rows.append(row)
    return rows


Verdict = Literal["keep", "drop", "set aside"]


def heal_jsonl(path: Path, judge: Callable[[dict[str, Any]], Verdict]) -> int:
    """Make ``path`` whole JSON lines again; the number of lines set aside.

    A line that is not a JSON object (cut by a kill mid-write, or a row written onto
    such a line) is moved to ``<path>.damaged``, as is one that ``judge`` sets aside;
    one it drops is removed; the rest stay, in order, each ending in a newline, so the
    next row appended starts a line of its own. The file is replaced (atomically) only
    when something changed.
    """
    if not path.exists():
        return 0
    temporary = path.with_name(path.name + ".healing")
    set_aside: list[bytes] = []
    changed = False
    try:
        with path.open("rb") as source, temporary.open("wb") as healed:
            for raw in source:
                line = raw.rstrip(b"\r\n")
                changed |= not raw.endswith(b"\n")
                if not line.strip():
                    changed = True
                    continue
                try:
                    value = json.loads(line)
                except ValueError:  # not JSON, or a character cut in two
                    value = None
                verdict: Verdict = judge(value) if isinstance(value, dict) else "set aside"
                if verdict == "keep":
                    healed.write(line + b"\n")
                    continue
                changed = True
                if verdict == "set aside":
                    set_aside.append(line)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if not changed:
        temporary.unlink()
        return 0
    if set_aside:
        # Kept before the file is replaced: a kill in between loses nothing.
        with path.with_name(path.name + DAMAGED).open("ab") as damaged:
            damaged.write(b"".join(line + b"\n" for line in set_aside))
    os.replace(temporary, path)
    return len(set_aside)
