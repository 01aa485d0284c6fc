"""Flow-GRPO rows: one per planner turn, the trajectory's reward on every turn.

A group is one question run by one system: the same task, topology and planner model
(:mod:`workforce_graph.exports.groups`); a flow run and a Workforce run of a task are
different policies, and their rewards are never normalised together. Rows carry
``topology`` and ``model`` beside ``group_id``.

The advantage is normalised within the group: by default over its
trajectories, as the AgentFlow paper's Eq. 7 writes it, so each rollout counts once
whatever its number of turns; ``normalise="turns"`` normalises over the group's turn
rows instead, as AgentFlow's training code does (a 3-turn trajectory then counts three
times). Both use the sample standard deviation (n - 1) plus 1e-6, as verl's GRPO.
Groups whose rewards do not vary carry no signal: they are dropped and counted.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any, Literal

from workforce_graph.exports.groups import System, Systems
from workforce_graph.exports.result import SAMPLING_HINT, ExportResult, completion_text
from workforce_graph.trajectory.format import Trajectory

__all__ = ["EPSILON", "Normalise", "flow_grpo_rows", "normalised"]

Normalise = Literal["trajectories", "turns"]
EPSILON = 1e-6


def normalised(value: float, population: list[float]) -> float:
    """``(value - mean) / (std + EPSILON)`` over ``population`` (sample std)."""
    mean = statistics.fmean(population)
    std = statistics.stdev(population) if len(population) > 1 else 0.0
    return (value - mean) / (std + EPSILON)


UNSCORED = "unscored trajectory"
FLAT = "group with rewards that do not vary"


def flow_grpo_rows(
    trajectories: Iterable[Trajectory],
    *,
    role: str = "planner",
    normalise: Normalise = "trajectories",
) -> ExportResult:
    """Rows ``group_id, topology, model, trajectory_id, turn, prompt, completion, reward,
    advantage``."""
    if normalise not in ("trajectories", "turns"):
        raise ValueError(f"normalise must be 'trajectories' or 'turns', not {normalise!r}")
    result = ExportResult()
    read = list(trajectories)
    systems = Systems(read, role)
    groups: dict[tuple[str, System], list[Trajectory]] = defaultdict(list)
    for trajectory in read:
        if trajectory.outcome is None:
            result.dropped[UNSCORED] += 1
            continue
        groups[(trajectory.group_id, systems.of(trajectory))].append(trajectory)
    kept_groups = 0
    by_topology: Counter[str] = Counter()
    kept_by_topology: Counter[str] = Counter()
    flat: list[list[float]] = []
    for (group_id, system), members in groups.items():
        by_topology[system.topology] += 1
        turns: list[dict[str, Any]] = []
        for trajectory in members:
            reward = float(trajectory.outcome.score) if trajectory.outcome else 0.0
            decisions = trajectory.decisions(role)
            if not decisions:
                result.dropped[f"trajectory without a {role} turn (counted in its group)"] += 1
            for index, call in enumerate(decisions):
                turns.append(
                    {
                        "group_id": group_id,
                        "topology": system.topology,
                        "model": system.model,
                        "trajectory_id": trajectory.trajectory_id,
                        "turn": call.turn if call.turn is not None else index,
                        "prompt": call.messages,
                        "completion": [{"role": "assistant", "content": completion_text(call)}],
                        "reward": reward,
                    }
                )
        rewards = [float(t.outcome.score) for t in members if t.outcome]
        population = rewards if normalise == "trajectories" else [row["reward"] for row in turns]
        if len(set(population)) < 2:
            result.dropped[FLAT] += 1
            result.dropped["row in a group with rewards that do not vary"] += len(turns)
            flat.append(rewards)
            continue
        kept_groups += 1
        kept_by_topology[system.topology] += 1
        for row in turns:
            row["advantage"] = normalised(row["reward"], population)
            result.rows.append(row)
    result.stats.update(
        trajectories=len(read),
        groups=len(groups),
        groups_kept=kept_groups,
        groups_by_topology=dict(sorted(by_topology.items())),
        groups_kept_by_topology=dict(sorted(kept_by_topology.items())),
        normalise=normalise,
    )
    if not result.rows:
        result.empty_reason = _why_empty(
            len(read), result.dropped[UNSCORED], flat, kept_groups, role
        )
    return result


def _why_empty(read: int, unscored: int, flat: list[list[float]], kept: int, role: str) -> str:
    if read == 0:
        return "no trajectory was read; pass an eval's --out folder or its trajectories.jsonl"
    if unscored == read:
        return (
            f"none of the {read} trajectories read has a score: export the folder of a "
            "workforce-graph eval (run --record does not score)"
        )
    if kept:
        return (
            f"the {kept} groups whose rewards varied hold no {role} turn; export the "
            "role that made the runs' decisions with --role"
        )
    single = sum(1 for rewards in flat if len(rewards) < 2)
    scores = Counter(rewards[0] for rewards in flat if len(rewards) >= 2)
    alike = ", ".join(f"{count} all {score:g}" for score, count in sorted(scores.items()))
    detail = f"{single} with one scored run" + (f", {alike}" if alike else "")
    return (
        f"every group (task, topology, {role} model) had equal rewards, so no advantage: "
        f"of {read} trajectories read ({unscored} without a score), {len(flat)} groups, "
        f"{detail}; {SAMPLING_HINT}"
    )
