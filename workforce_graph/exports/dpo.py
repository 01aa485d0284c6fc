"""DPO pairs: for one question sampled several times, a planner output from a
trajectory that scored (chosen) against one from a trajectory that did not (rejected),
for the same prompt (OWL: n = 4 samples per question).

Rows are TRL's conversational prompt/chosen/rejected. Every distinct (chosen, rejected)
combination of a prompt is a pair; groups where every sample scored alike give none and
are counted.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from workforce_graph.exports.result import ExportResult, completion_text
from workforce_graph.trajectory.format import Trajectory

__all__ = ["dpo_rows"]


def dpo_rows(
    trajectories: Iterable[Trajectory], *, role: str = "planner", min_score: float = 1.0
) -> ExportResult:
    """Pairs of ``role`` decisions sharing a prompt, one from a trajectory scoring at
    least ``min_score``, the other from one below it."""
    result = ExportResult()
    # group -> prompt key -> (prompt, {completion: trajectory id} chosen, ... rejected)
    groups: dict[str, dict[str, tuple[list[dict[str, Any]], dict[str, str], dict[str, str]]]]
    groups = defaultdict(dict)
    for trajectory in trajectories:
        if trajectory.outcome is None:
            result.dropped["unscored trajectory"] += 1
            continue
        good = trajectory.outcome.score >= min_score
        for call in trajectory.decisions(role):
            key = json.dumps(call.messages, sort_keys=True)
            prompts = groups[trajectory.group_id]
            prompt, chosen, rejected = prompts.setdefault(key, (call.messages, {}, {}))
            (chosen if good else rejected).setdefault(
                completion_text(call), trajectory.trajectory_id
            )
    for group_id, prompts in groups.items():
        paired = False
        for prompt, chosen, rejected in prompts.values():
            for good_text, good_id in chosen.items():
                for bad_text, bad_id in rejected.items():
                    if good_text == bad_text:
                        result.dropped["pair with identical completions"] += 1
                        continue
                    paired = True
                    result.rows.append(
                        {
                            "prompt": prompt,
                            "chosen": [{"role": "assistant", "content": good_text}],
                            "rejected": [{"role": "assistant", "content": bad_text}],
                            "meta": {
                                "group_id": group_id,
                                "chosen_trajectory_id": good_id,
                                "rejected_trajectory_id": bad_id,
                                "role": role,
                            },
                        }
                    )
        if not paired:
            result.dropped["group without a correct and a wrong output for one prompt"] += 1
    result.stats["groups"] = len(groups)
    return result
