"""What an export returns: its rows and an account of everything it left out.

An export that yields no row says why in :attr:`ExportResult.empty_reason` (what was
read, why none qualified, what to try); ``workforce-graph export`` then writes no file
and exits 2 with that line, instead of leaving an empty file that looks like success.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workforce_graph.trajectory.format import ModelCall

__all__ = ["SAMPLING_HINT", "ExportError", "ExportResult", "completion_text"]

SAMPLING_HINT = (
    "sample more runs per task at a temperature above 0, e.g. "
    "workforce-graph eval DATASET --samples 4 --temperature 0.7"
)
"""What to try when the runs of a task all scored alike: greedy decoding repeats one
run, so only sampled runs can differ."""


class ExportError(ValueError):
    """The input cannot be exported as asked; the message says why and what to do."""


@dataclass
class ExportResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    """Why trajectories, groups or rows were left out, with how many: nothing is
    dropped silently."""
    stats: dict[str, Any] = field(default_factory=dict)
    empty_reason: str | None = None
    """Set when there are no rows: why none qualified and what to try, in one line."""

    def write(self, path: str | Path) -> None:
        """Write the rows as JSONL (the folder is created if missing)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", encoding="utf-8") as handle:
            for row in self.rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")

    def summary(self) -> dict[str, Any]:
        return {"rows": len(self.rows), "dropped": dict(self.dropped), **self.stats}


def completion_text(call: ModelCall) -> str:
    """What the model said, as the text a trainer should learn to produce.

    A structured reply (a plan, a next step) is its JSON object; a tool-calling reply is
    its tool calls as JSON; otherwise the text.
    """
    if call.parsed is not None:
        return json.dumps(call.parsed, ensure_ascii=False)
    if call.text or not call.tool_calls:
        return call.text
    return json.dumps(
        [{"name": c.get("name"), "args": c.get("args")} for c in call.tool_calls],
        ensure_ascii=False,
    )
