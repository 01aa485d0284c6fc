"""One Flow-GRPO iteration's report: its figures, its rollouts scored and exported as
rows, and the reports an earlier start of the loop left in ``loop.json``."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workforce_graph.training.progress import Figures
from workforce_graph.training.rollout_pool import with_sampled_ids

__all__ = [
    "IterationReport",
    "earlier_reports",
    "export_rows",
    "report_detail",
    "score_rollouts",
]

_DROPPED_GROUP = "group with rewards that do not vary"


@dataclass
class IterationReport:
    iteration: int
    policy: str
    """The planner that made this iteration's rollouts."""
    rollouts: int
    pass_at_1: float
    rollout_s: float
    rollouts_run: int = 0
    """Rollouts run by this start of the loop (the others were kept from an earlier one)."""
    mean_reward: float | None = None
    """Mean score of the rollouts."""
    planner_calls: int = 0
    valid_decisions: float | None = None
    """Share of the rollouts' planner calls whose output parsed into a decision."""
    rows: int = 0
    groups: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    dropped_groups: float | None = None
    """Share of the groups (questions) dropped because their rewards did not vary."""
    losses: list[float] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)
    """The KL term logged at each update step."""
    train_s: float = 0.0
    updated: str | None = None
    """The planner after the update; ``None`` when there was no signal to learn from."""
    held_out_pass_at_1: float | None = None
    """pass@1 of the planner after this iteration on the held-out dataset, if given."""
    policy_version: int = 0
    """Updates behind the planner that this iteration trains (0: the starting model)."""
    stale_rollouts: int = 0
    """Rollouts made by an older version (trained on only with ``off_policy``)."""
    server_token_rows: int = 0
    """Rows trained on the token ids the rollout server sampled (the others: their text
    tokenised)."""

    @property
    def rollouts_per_min(self) -> float:
        return 60.0 * self.rollouts_run / self.rollout_s if self.rollout_s else 0.0

    def figures(self) -> Figures:
        """This iteration's point of the progress record."""
        return Figures(
            step=self.iteration,
            loss=statistics.fmean(self.losses) if self.losses else None,
            kl=statistics.fmean(self.kl) if self.kl else None,
            reward=self.mean_reward,
            valid_decisions=self.valid_decisions,
            held_out_pass_at_1=self.held_out_pass_at_1,
            extra={} if self.dropped_groups is None else {"dropped_groups": self.dropped_groups},
        )


def score_rollouts(report: IterationReport, trajectories: list[Any]) -> None:
    """Mean reward and the share of planner calls that gave a usable decision."""
    scores = [t.outcome.score for t in trajectories if t.outcome is not None]
    report.mean_reward = statistics.fmean(scores) if scores else None
    calls = [c for t in trajectories for c in t.calls if c.role == "planner"]
    report.planner_calls = len(calls)
    valid = sum(1 for c in calls if c.parsed is not None and c.error is None)
    report.valid_decisions = valid / len(calls) if calls else None


def export_rows(
    report: IterationReport, trajectories: list[Any], *, normalise: str, served: bool
) -> list[dict[str, Any]]:
    """The iteration's flow-grpo rows; what was dropped goes into the report. ``served``:
    the rollouts came from a server, whose sampled token ids the rows take."""
    from workforce_graph.exports.flow_grpo import flow_grpo_rows

    export = flow_grpo_rows(trajectories, normalise=normalise)  # type: ignore[arg-type]
    report.rows, report.dropped = len(export.rows), dict(export.dropped)
    report.groups = int(export.stats.get("groups", 0))
    if report.groups:
        report.dropped_groups = report.dropped.get(_DROPPED_GROUP, 0) / report.groups
    rows = list(export.rows)
    if served:
        report.server_token_rows = with_sampled_ids(rows, trajectories)
    return rows


def report_detail(report: IterationReport) -> dict[str, Any]:
    """The report as ``loop.json`` keeps it."""
    return {**asdict(report), "rollouts_per_min": round(report.rollouts_per_min, 2)}


def earlier_reports(path: Path) -> dict[int, dict[str, Any]]:
    """The iteration reports an earlier start of this loop wrote (for their timings)."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    iterations = saved.get("iterations", []) if isinstance(saved, dict) else []
    return {
        int(item["iteration"]): item
        for item in iterations
        if isinstance(item, dict) and isinstance(item.get("iteration"), int)
    }
