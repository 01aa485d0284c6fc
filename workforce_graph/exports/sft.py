"""SFT rows: the planner's decisions in trajectories that scored (OWL's filter).

Each row is TRL's conversational prompt/completion: ``prompt`` is the exact input
messages, ``completion`` one assistant message; ``meta`` says where it came from.
"""

from __future__ import annotations

from collections.abc import Iterable

from workforce_graph.exports.groups import Systems
from workforce_graph.exports.result import SAMPLING_HINT, ExportResult, completion_text
from workforce_graph.trajectory.format import Trajectory

__all__ = ["sft_rows"]

UNSCORED = "unscored trajectory"
BELOW = "trajectory below min score"


def sft_rows(
    trajectories: Iterable[Trajectory], *, role: str = "planner", min_score: float = 1.0
) -> ExportResult:
    """One row per decision of ``role`` in every trajectory scoring at least ``min_score``."""
    result = ExportResult()
    read = list(trajectories)
    systems = Systems(read, role)
    no_decision = f"scored trajectory without a {role} decision"
    for trajectory in read:
        if trajectory.outcome is None:
            result.dropped[UNSCORED] += 1
            continue
        if trajectory.outcome.score < min_score:
            result.dropped[BELOW] += 1
            continue
        decisions = trajectory.decisions(role)
        if not decisions:
            result.dropped[no_decision] += 1
        system = systems.of(trajectory)
        for turn, call in enumerate(decisions):
            result.rows.append(
                {
                    "prompt": call.messages,
                    "completion": [{"role": "assistant", "content": completion_text(call)}],
                    "meta": {
                        "trajectory_id": trajectory.trajectory_id,
                        "group_id": trajectory.group_id,
                        "topology": system.topology,
                        "model": system.model,
                        "turn": call.turn if call.turn is not None else turn,
                        "role": role,
                        "score": trajectory.outcome.score,
                    },
                }
            )
    result.stats["trajectories"] = len(read)
    if not result.rows:
        result.empty_reason = _why_empty(
            len(read),
            result.dropped[UNSCORED],
            result.dropped[BELOW],
            result.dropped[no_decision],
            role=role,
            min_score=min_score,
        )
    return result


def _why_empty(
    read: int, unscored: int, below: int, no_decision: int, *, role: str, min_score: float
) -> str:
    if read == 0:
        return "no trajectory was read; pass an eval's --out folder or its trajectories.jsonl"
    counts = (
        f"of {read} trajectories read, {below} scored below --min-score {min_score:g}, "
        f"{unscored} had no score and {no_decision} scored but made no {role} call"
    )
    if unscored == read:
        hint = (
            "only scored runs qualify: export the folder of a workforce-graph eval "
            "(run --record does not score)"
        )
    elif below:
        hint = f"lower --min-score (0 keeps every scored run), or {SAMPLING_HINT}"
    else:
        hint = f"export another role's decisions with --role, or record runs whose {role} ran"
    return f"no trajectory qualified: {counts}; {hint}"
