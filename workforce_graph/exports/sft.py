"""SFT rows: the planner's decisions in trajectories that scored (OWL's filter).

Each row is TRL's conversational prompt/completion: ``prompt`` is the exact input
messages, ``completion`` one assistant message; ``meta`` says where it came from.
"""

from __future__ import annotations

from collections.abc import Iterable

from workforce_graph.exports.result import ExportResult, completion_text
from workforce_graph.trajectory.format import Trajectory

__all__ = ["sft_rows"]


def sft_rows(
    trajectories: Iterable[Trajectory], *, role: str = "planner", min_score: float = 1.0
) -> ExportResult:
    """One row per decision of ``role`` in every trajectory scoring at least ``min_score``."""
    result = ExportResult()
    for trajectory in trajectories:
        if trajectory.outcome is None:
            result.dropped["unscored trajectory"] += 1
            continue
        if trajectory.outcome.score < min_score:
            result.dropped["trajectory below min score"] += 1
            continue
        decisions = trajectory.decisions(role)
        if not decisions:
            result.dropped[f"scored trajectory without a {role} decision"] += 1
        for turn, call in enumerate(decisions):
            result.rows.append(
                {
                    "prompt": call.messages,
                    "completion": [{"role": "assistant", "content": completion_text(call)}],
                    "meta": {
                        "trajectory_id": trajectory.trajectory_id,
                        "group_id": trajectory.group_id,
                        "turn": call.turn if call.turn is not None else turn,
                        "role": role,
                        "score": trajectory.outcome.score,
                    },
                }
            )
    return result
