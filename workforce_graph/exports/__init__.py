"""Training and submission files from recorded trajectories.

``sft`` and ``dpo`` rows follow TRL's conversational formats; ``flow-grpo`` rows carry
per-turn advantages for a Flow-GRPO loss; ``gaia`` is a leaderboard submission.
Runs are grouped by task, topology and planner model (:mod:`.groups`); an export with
no row says why in ``ExportResult.empty_reason``. Formats: docs/trajectories.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from workforce_graph.exports.dpo import dpo_rows
from workforce_graph.exports.flow_grpo import Normalise, flow_grpo_rows, normalised
from workforce_graph.exports.gaia import gaia_rows
from workforce_graph.exports.groups import UNKNOWN_MODEL, System, Systems
from workforce_graph.exports.result import SAMPLING_HINT, ExportError, ExportResult, completion_text
from workforce_graph.exports.sft import sft_rows
from workforce_graph.trajectory.format import Trajectory

__all__ = [
    "SAMPLING_HINT",
    "UNKNOWN_MODEL",
    "ExportError",
    "ExportKind",
    "ExportResult",
    "Normalise",
    "System",
    "Systems",
    "completion_text",
    "dpo_rows",
    "export",
    "flow_grpo_rows",
    "gaia_rows",
    "normalised",
    "sft_rows",
]

ExportKind = Literal["sft", "dpo", "flow-grpo", "gaia"]


def export(kind: ExportKind, trajectories: Iterable[Trajectory], **options: Any) -> ExportResult:
    """Rows of ``kind`` from ``trajectories`` (``options``: the kind's keywords)."""
    if kind == "sft":
        return sft_rows(trajectories, **options)
    if kind == "dpo":
        return dpo_rows(trajectories, **options)
    if kind == "flow-grpo":
        return flow_grpo_rows(trajectories, **options)
    if kind == "gaia":
        return gaia_rows(trajectories, **options)
    raise ValueError(f"unknown export {kind!r}: sft, dpo, flow-grpo or gaia")
