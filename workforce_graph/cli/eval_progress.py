"""An evaluation's progress on the command line: the line each finished run prints,
with a time estimate, and the checks and names of its output folder."""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workforce_graph.cli.errors import CliError
from workforce_graph.folders import FolderError, output_folder

__all__ = ["Progress", "already_done", "check_out", "slug", "verdict"]


def slug(text: str) -> str:
    """``text`` as a folder name: safe characters only, at most 60."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "eval"


@dataclass
class Progress:
    """How far an evaluation is, and a time estimate: runs finished (including those a
    resumed evaluation had), and the mean duration of this session's runs times those
    left, over the runs made at once."""

    total: int
    done: int = 0
    concurrency: int = 1
    durations: list[float] = field(default_factory=list)

    def finished(self, duration_s: float) -> str:
        """Count one finished run; the line to show (``3/10 done, ~2.5 min left``)."""
        self.done += 1
        self.durations.append(duration_s)
        left = max(0, self.total - self.done)
        minutes = statistics.fmean(self.durations) * left / max(1, self.concurrency) / 60
        shown = f"{minutes:.0f}" if minutes >= 10 else f"{minutes:.1f}"
        return f"{self.done}/{self.total} done, ~{shown} min left"

    def run_line(self, row: dict[str, Any], label: str = "") -> str:
        """Count a finished run; its progress line (``q3 #0: right (2.1 s) · 3/10 ...``),
        after ``label: `` when one is given (a side of a comparison)."""
        duration = float(row["duration_s"])
        return (
            f"{label + ': ' if label else ''}{row['task_id']} #{row['sample']}: {verdict(row)} "
            f"({duration:.1f} s) · {self.finished(duration)}"
        )


def already_done(results: Iterable[Path], keys: set[tuple[str, int]]) -> int:
    """Runs of ``keys`` that earlier sessions finished in these results files."""
    from workforce_graph.evaluation.runner import read_rows

    done: set[tuple[Path, str, int]] = set()
    for path in results:
        for row in read_rows(path):
            key = (str(row.get("task_id")), int(row.get("sample", 0)))
            if key in keys:
                done.add((path, *key))
    return len(done)


def verdict(row: dict[str, Any]) -> str:
    """A run's end as its progress line says it: ``right`` or its failure kind; a right
    answer of the one-subtask fallback is ``right, plan_fallback``."""
    if not row["correct"]:
        return str(row["failure"])
    return "right, plan_fallback" if row.get("plan_fallback") else "right"


def check_out(folder: Path) -> None:
    """Refuse an ``--out`` that cannot hold the evaluation, in one line.

    Raises:
        CliError: ``folder`` is a file, another kind of folder, or cannot be made.
    """
    try:
        # Here too, not only when the run opens it: a bad --out before the progress line.
        output_folder(folder, holds="the evaluation")
    except FolderError as exc:
        raise CliError(str(exc)) from exc
