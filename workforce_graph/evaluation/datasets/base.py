"""What every evaluation dataset is: tasks, an answer format, and a scorer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workforce_graph.evaluation.scorer import gaia_score

__all__ = ["DatasetError", "EvalDataset", "EvalTask"]


class DatasetError(ValueError):
    """A dataset cannot be read (one actionable line)."""


@dataclass(frozen=True)
class EvalTask:
    task_id: str
    question: str
    answer: str
    family: str = ""
    """GAIA level ("1", "2", "3") or the task family (e.g. ``game24``, ``leg_counting``)."""
    files: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict, compare=False)
    """What the dataset's own verifier needs (e.g. a reasoning-gym entry)."""


Scorer = Callable[[EvalTask, str], float]


def _gaia(task: EvalTask, extracted: str) -> float:
    return 1.0 if gaia_score(extracted, task.answer) else 0.0


@dataclass
class EvalDataset:
    name: str
    tasks: list[EvalTask]
    answer_format: str
    scorer: Scorer = _gaia
    """``(task, extracted answer) -> score in [0, 1]``; 1.0 counts as correct."""

    def score(self, task: EvalTask, extracted: str) -> float:
        return float(self.scorer(task, extracted))
