"""Flow-GRPO rows: one per planner turn, the trajectory's reward on every turn.

The advantage is normalised within the group (the question): by default over its
trajectories, as the AgentFlow paper's Eq. 7 writes it, so each rollout counts once
whatever its number of turns; ``normalise="turns"`` normalises over the group's turn
rows instead, as AgentFlow's training code does (a 3-turn trajectory then counts three
times). Both use the sample standard deviation (n - 1) plus 1e-6, as verl's GRPO.
Groups whose rewards do not vary carry no signal: they are dropped and counted.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Literal

from workforce_graph.exports.result import ExportResult, completion_text
from workforce_graph.trajectory.format import Trajectory

__all__ = ["EPSILON", "Normalise", "flow_grpo_rows", "normalised"]

Normalise = Literal["trajectories", "turns"]
EPSILON = 1e-6


def normalised(value: float, population: list[float]) -> float:
    """``(value - mean) / (std + EPSILON)`` over ``population`` (sample std)."""
    mean = statistics.fmean(population)
    std = statistics.stdev(population) if len(population) > 1 else 0.0
    return (value - mean) / (std + EPSILON)


def flow_grpo_rows(
    trajectories: Iterable[Trajectory],
    *,
    role: str = "planner",
    normalise: Normalise = "trajectories",
) -> ExportResult:
    """Rows ``group_id, trajectory_id, turn, prompt, completion, reward, advantage``."""
    if normalise not in ("trajectories", "turns"):
        raise ValueError(f"normalise must be 'trajectories' or 'turns', not {normalise!r}")
    result = ExportResult()
    groups: dict[str, list[Trajectory]] = defaultdict(list)
    for trajectory in trajectories:
        if trajectory.outcome is None:
            result.dropped["unscored trajectory"] += 1
            continue
        groups[trajectory.group_id].append(trajectory)
    kept_groups = 0
    for group_id, members in groups.items():
        turns: list[dict[str, Any]] = []
        for trajectory in members:
            reward = float(trajectory.outcome.score) if trajectory.outcome else 0.0
            decisions = trajectory.decisions(role)
            if not decisions:
                result.dropped["trajectory without a planner turn (counted in its group)"] += 1
            for index, call in enumerate(decisions):
                turns.append(
                    {
                        "group_id": group_id,
                        "trajectory_id": trajectory.trajectory_id,
                        "turn": call.turn if call.turn is not None else index,
                        "prompt": call.messages,
                        "completion": [{"role": "assistant", "content": completion_text(call)}],
                        "reward": reward,
                    }
                )
        population = (
            [float(t.outcome.score) for t in members if t.outcome]
            if normalise == "trajectories"
            else [row["reward"] for row in turns]
        )
        if len(set(population)) < 2:
            result.dropped["group with rewards that do not vary"] += 1
            result.dropped["row in a group with rewards that do not vary"] += len(turns)
            continue
        kept_groups += 1
        for row in turns:
            row["advantage"] = normalised(row["reward"], population)
            result.rows.append(row)
    result.stats.update(groups=len(groups), groups_kept=kept_groups, normalise=normalise)
    return result
