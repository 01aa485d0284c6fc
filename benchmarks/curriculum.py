"""A generated curriculum for the training demos: questions whose right answer and right
decomposition are known, in six families.

- ``capital``: the capital of a well-known country (one subtask; within the bundled
  135M model's reach, so that some rollouts score and the trainers get rows);
- ``small_sum``: the sum of two one-digit numbers (one subtask, also within reach);
  these two are scored leniently (the answer anywhere in the reply, as a word), the
  others by exact match of the extracted final answer;
- ``arithmetic``: one multiplication (a job for the code worker);
- ``multi_step``: a short expression with several operations;
- ``game24``: a Game of 24 puzzle, scored by the exact checker;
- ``multi_part``: two independent products, then their sum (right plan: two parallel
  subtasks and one that depends on both).

Seeded, so "before" and "after" see the same questions.
"""

from __future__ import annotations

import random
import re

from workforce_graph.evaluation.datasets.base import EvalDataset, EvalTask
from workforce_graph.evaluation.datasets.game24 import check_24
from workforce_graph.evaluation.scorer import GAIA_ANSWER_FORMAT, gaia_score

__all__ = ["FAMILIES", "curriculum"]

FAMILIES = ("capital", "small_sum", "arithmetic", "multi_step", "game24", "multi_part")
LENIENT = ("capital", "small_sum")
"""Families scored by "the answer appears as a word", the others by exact match."""
CAPITALS = (
    ("France", "Paris"),
    ("Italy", "Rome"),
    ("Japan", "Tokyo"),
    ("Germany", "Berlin"),
    ("Spain", "Madrid"),
    ("Egypt", "Cairo"),
    ("Russia", "Moscow"),
    ("England", "London"),
)
PUZZLES = ([4, 7, 8, 8], [1, 2, 3, 4], [2, 3, 4, 6], [1, 1, 4, 6], [3, 3, 8, 8], [2, 2, 6, 6])


def _score(task: EvalTask, extracted: str) -> float:
    if task.family in LENIENT:
        # The answer anywhere as a word: the bundled model rarely follows the
        # "FINAL ANSWER:" format, and exact match would give these families no signal.
        return 1.0 if re.search(rf"\b{re.escape(task.answer)}\b", extracted, re.I) else 0.0
    if task.family == "game24":
        return 1.0 if check_24(extracted, list(task.data["numbers"])) else 0.0
    return 1.0 if gaia_score(extracted, task.answer) else 0.0


def _task(family: str, index: int, rng: random.Random) -> EvalTask:
    task_id = f"{family}-{index}"
    if family == "capital":
        country, city = rng.choice(CAPITALS)
        return EvalTask(task_id, f"What is the capital of {country}?", city, family)
    if family == "small_sum":
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        return EvalTask(task_id, f"What is {a} + {b}?", str(a + b), family)
    if family == "arithmetic":
        a, b = rng.randint(12, 99), rng.randint(12, 99)
        return EvalTask(task_id, f"What is {a} * {b}?", str(a * b), family)
    if family == "multi_step":
        a, b, c, d = (rng.randint(2, 30) for _ in range(4))
        return EvalTask(task_id, f"Compute ({a} + {b}) * {c} - {d}.", str((a + b) * c - d), family)
    if family == "game24":
        numbers = PUZZLES[index % len(PUZZLES)]
        question = (
            "Use the numbers " + " ".join(map(str, numbers)) + " and + - * / to obtain 24, "
            "each number exactly once. Answer with the expression."
        )
        return EvalTask(task_id, question, "24", family, data={"numbers": numbers})
    a, b, c, d = (rng.randint(3, 40) for _ in range(4))
    question = f"Compute {a} * {b} and {c} * {d} separately, then add the two results."
    return EvalTask(task_id, question, str(a * b + c * d), family)


def curriculum(
    per_family: int, *, seed: int, name: str, families: tuple[str, ...] = FAMILIES
) -> EvalDataset:
    """``per_family`` questions of each family (different seeds give different questions)."""
    unknown = set(families) - set(FAMILIES)
    if unknown:
        raise SystemExit(f"unknown families {sorted(unknown)}; choose from {', '.join(FAMILIES)}")
    rng = random.Random(seed)
    tasks = [
        _task(family, seed * 1000 + index, rng)
        for index in range(per_family)
        for family in families
    ]
    return EvalDataset(name=name, tasks=tasks, answer_format=GAIA_ANSWER_FORMAT, scorer=_score)
