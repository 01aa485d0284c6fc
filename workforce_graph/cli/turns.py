"""The flow topology's turns shown like a plan: one subtask-shaped item per turn."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["turn_items"]


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
