"""DPO pairs: for one question sampled several times, a planner output from a
trajectory that scored (chosen) against one from a trajectory that did not (rejected),
for the same prompt (OWL: n = 4 samples per question).

A group is one question run by one system: the same task, topology and planner model
(:mod:`workforce_graph.exports.groups`), so a pair never sets a flow run's plan against
a Workforce run's, or a trained planner's against its base model's.

Rows are TRL's conversational prompt/chosen/rejected. Every distinct (chosen, rejected)
combination of a prompt is a pair; groups where every sample scored alike give none and
are counted.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from workforce_graph.exports.groups import System, Systems
from workforce_graph.exports.result import SAMPLING_HINT, ExportResult, completion_text
from workforce_graph.trajectory.format import Trajectory

__all__ = ["dpo_rows"]

UNSCORED = "unscored trajectory"
NO_PAIR = "group without a correct and a wrong output for one prompt"
IDENTICAL = "pair with identical completions"


@dataclass
class _Prompt:
    messages: list[dict[str, Any]]
    chosen: dict[str, str] = field(default_factory=dict)
    """Completion text -> the first trajectory that gave it."""
    rejected: dict[str, str] = field(default_factory=dict)


@dataclass
class _Group:
    right: int = 0
    wrong: int = 0
    prompts: dict[str, _Prompt] = field(default_factory=dict)


def dpo_rows(
    trajectories: Iterable[Trajectory], *, role: str = "planner", min_score: float = 1.0
) -> ExportResult:
    """Pairs of ``role`` decisions sharing a prompt, one from a trajectory scoring at
    least ``min_score``, the other from one below it, within one (task, topology, model)
    group."""
    result = ExportResult()
    read = list(trajectories)
    systems = Systems(read, role)
    groups: dict[tuple[str, System], _Group] = defaultdict(_Group)
    for trajectory in read:
        if trajectory.outcome is None:
            result.dropped[UNSCORED] += 1
            continue
        group = groups[(trajectory.group_id, systems.of(trajectory))]
        good = trajectory.outcome.score >= min_score
        if good:
            group.right += 1
        else:
            group.wrong += 1
        for call in trajectory.decisions(role):
            key = json.dumps(call.messages, sort_keys=True)
            prompt = group.prompts.setdefault(key, _Prompt(call.messages))
            (prompt.chosen if good else prompt.rejected).setdefault(
                completion_text(call), trajectory.trajectory_id
            )
    identical_groups = 0
    by_topology: Counter[str] = Counter()
    pairs_by_topology: Counter[str] = Counter()
    for (group_id, system), group in groups.items():
        by_topology[system.topology] += 1
        paired = identical = False
        for prompt in group.prompts.values():
            for good_text, good_id in prompt.chosen.items():
                for bad_text, bad_id in prompt.rejected.items():
                    if good_text == bad_text:
                        result.dropped[IDENTICAL] += 1
                        identical = True
                        continue
                    paired = True
                    pairs_by_topology[system.topology] += 1
                    result.rows.append(
                        {
                            "prompt": prompt.messages,
                            "chosen": [{"role": "assistant", "content": good_text}],
                            "rejected": [{"role": "assistant", "content": bad_text}],
                            "meta": {
                                "group_id": group_id,
                                "topology": system.topology,
                                "model": system.model,
                                "chosen_trajectory_id": good_id,
                                "rejected_trajectory_id": bad_id,
                                "role": role,
                            },
                        }
                    )
        if not paired:
            result.dropped[NO_PAIR] += 1
            identical_groups += int(identical)
    result.stats.update(
        trajectories=len(read),
        groups=len(groups),
        groups_by_topology=dict(sorted(by_topology.items())),
        pairs_by_topology=dict(sorted(pairs_by_topology.items())),
    )
    if not result.rows:
        result.empty_reason = _why_empty(
            len(read), result.dropped[UNSCORED], groups, identical_groups, role, min_score
        )
    return result


def _why_empty(
    read: int,
    unscored: int,
    groups: dict[tuple[str, System], _Group],
    identical: int,
    role: str,
    min_score: float,
) -> str:
    if read == 0:
        return "no trajectory was read; pass an eval's --out folder or its trajectories.jsonl"
    all_right = sum(1 for g in groups.values() if g.right and not g.wrong)
    all_wrong = sum(1 for g in groups.values() if g.wrong and not g.right)
    mixed = len(groups) - all_right - all_wrong
    counts = (
        f"of {read} trajectories read ({unscored} without a score), in {len(groups)} groups "
        f"(task, topology, {role} model) {all_right} had only runs scoring at least "
        f"--min-score {min_score:g}, {all_wrong} only runs below it"
    )
    if mixed:
        counts += (
            f" and {mixed} both, but no {role} prompt with different right and wrong outputs"
            + (f" ({identical} gave identical outputs)" if identical else "")
        )
    if unscored == read:
        hint = (
            "only scored runs pair: export the folder of a workforce-graph eval "
            "(run --record does not score)"
        )
    else:
        hint = SAMPLING_HINT
    return f"no task had both a right and a wrong {role} output: {counts}; {hint}"
