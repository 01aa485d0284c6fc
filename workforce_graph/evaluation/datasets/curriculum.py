"""A generated curriculum where the planner's decision decides the outcome.

Each family has one right kind of worker, and the families need different ones, so no
single routing wins:

- ``fact``: a short fact (a capital, a chemical symbol) for the reasoning worker;
- ``arithmetic``: one product of two- and three-digit numbers, for the code worker
  (a small model cannot multiply in its head, a sandboxed ``print`` can);
- ``multi_step``: a short expression with several operations, for the code worker;
- ``tvm``: a net present value, for the finance plugin's worker and its exact tool;
- ``two_part``: two independent products and their sum, whose right plan is two
  parallel subtasks and a third that depends on both.

Every task declares the capability it needs (``data["expected_capabilities"]``), so
an evaluation can report how often the planner routed a subtask to the right kind of
worker. Questions are drawn with a seed; :func:`load_curriculum` with ``exclude``
(the questions of a training split) redraws any collision, so a held-out split drawn
from another seed shares no question with it.

Scoring is lenient on format (a small generator rarely writes ``FINAL ANSWER:``), strict
on the value: a fact's answer must appear as a word, an integer answer must appear as a
number (thousands separators ignored), and a net present value must appear within 1%.
"""

from __future__ import annotations

import random
import re
from collections.abc import Collection, Iterable

from workforce_graph.evaluation.datasets.base import DatasetError, EvalDataset, EvalTask
from workforce_graph.evaluation.scorer import GAIA_ANSWER_FORMAT

__all__ = ["CURRICULUM_FAMILIES", "NEEDED_CAPABILITIES", "load_curriculum", "score_curriculum"]

CURRICULUM_FAMILIES = ("fact", "arithmetic", "multi_step", "tvm", "two_part")

NEEDED_CAPABILITIES: dict[str, tuple[str, ...]] = {
    "fact": ("general_knowledge", "reasoning"),
    "arithmetic": ("python", "code_execution", "math"),
    "multi_step": ("python", "code_execution", "math"),
    "tvm": ("finance", "time_value_of_money"),
    "two_part": ("python", "code_execution", "math"),
}
"""The capability tags of the right worker for each family (any one of them counts)."""

FACTS = (
    ("What is the capital of France?", "Paris"),
    ("What is the capital of Italy?", "Rome"),
    ("What is the capital of Japan?", "Tokyo"),
    ("What is the capital of Germany?", "Berlin"),
    ("What is the capital of Spain?", "Madrid"),
    ("What is the capital of Egypt?", "Cairo"),
    ("What is the capital of Russia?", "Moscow"),
    ("What is the capital of England?", "London"),
    ("What is the capital of China?", "Beijing"),
    ("What is the capital of Greece?", "Athens"),
    ("What is the capital of Portugal?", "Lisbon"),
    ("What is the capital of Austria?", "Vienna"),
    ("What is the capital of Ireland?", "Dublin"),
    ("What is the capital of Norway?", "Oslo"),
    ("What is the capital of Sweden?", "Stockholm"),
    ("What is the capital of Poland?", "Warsaw"),
    ("What is the capital of Canada?", "Ottawa"),
    ("What is the capital of Kenya?", "Nairobi"),
    ("What is the capital of Peru?", "Lima"),
    ("What is the capital of Cuba?", "Havana"),
    ("What is the capital of Thailand?", "Bangkok"),
    ("What is the capital of Hungary?", "Budapest"),
    ("What is the capital of Denmark?", "Copenhagen"),
    ("What is the capital of Finland?", "Helsinki"),
    ("What is the chemical symbol of gold?", "Au"),
    ("What is the chemical symbol of iron?", "Fe"),
    ("What is the chemical symbol of silver?", "Ag"),
    ("What is the chemical symbol of sodium?", "Na"),
    ("What is the chemical symbol of oxygen?", "O"),
    ("What is the chemical symbol of carbon?", "C"),
    ("Which planet is closest to the Sun?", "Mercury"),
    ("Which planet is known as the Red Planet?", "Mars"),
    ("What is the largest planet in the Solar System?", "Jupiter"),
    ("What colour do you get by mixing blue and yellow?", "green"),
    ("What colour do you get by mixing red and white?", "pink"),
    ("How many legs does a spider have?", "8"),
    ("How many days are in a leap year?", "366"),
    ("What is the freezing point of water in degrees Celsius?", "0"),
    ("In which continent is Brazil?", "South America"),
    ("In which continent is Nigeria?", "Africa"),
)

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def score_curriculum(task: EvalTask, extracted: str) -> float:
    """1.0 when the answer carries the right value (see the module's rules), else 0.0."""
    if task.family == "fact":
        pattern = rf"(?<![\w]){re.escape(task.answer)}(?![\w])"
        return 1.0 if re.search(pattern, extracted, re.I) else 0.0
    numbers = [float(n.replace(",", "")) for n in _NUMBER.findall(extracted) if n != "-"]
    expected = float(task.answer)
    if task.family == "tvm":
        tolerance = max(abs(expected) * 0.01, 0.01)
        return 1.0 if any(abs(n - expected) <= tolerance for n in numbers) else 0.0
    return 1.0 if expected in numbers else 0.0


def _fact(rng: random.Random) -> tuple[str, str, dict[str, object]]:
    question, answer = rng.choice(FACTS)
    return question, answer, {}


def _arithmetic(rng: random.Random) -> tuple[str, str, dict[str, object]]:
    a, b = rng.randint(23, 989), rng.randint(13, 97)
    return f"What is {a} * {b}?", str(a * b), {}


def _multi_step(rng: random.Random) -> tuple[str, str, dict[str, object]]:
    a, b, c, d = rng.randint(12, 99), rng.randint(12, 99), rng.randint(3, 19), rng.randint(5, 99)
    return f"Compute ({a} + {b}) * {c} - {d}.", str((a + b) * c - d), {}


def _tvm(rng: random.Random) -> tuple[str, str, dict[str, object]]:
    rate = rng.choice((4, 5, 6, 7, 8, 9, 10, 12))
    outlay = rng.choice((500, 800, 1000, 1200, 1500, 2000))
    flows = [rng.randrange(100, outlay, 50) for _ in range(3)]
    npv = -outlay + sum(f / (1 + rate / 100) ** (t + 1) for t, f in enumerate(flows))
    question = (
        f"What is the net present value at {rate}% of paying {outlay} now and receiving "
        f"{flows[0]}, {flows[1]} and {flows[2]} over the next three years?"
    )
    return question, f"{npv:.2f}", {}


def _two_part(rng: random.Random) -> tuple[str, str, dict[str, object]]:
    a, b, c, d = (rng.randint(13, 97) for _ in range(4))
    question = f"Compute {a} * {b} and {c} * {d} separately, then add the two results."
    return question, str(a * b + c * d), {"right_plan": "two parallel subtasks, then a join"}


_MAKERS = {
    "fact": _fact,
    "arithmetic": _arithmetic,
    "multi_step": _multi_step,
    "tvm": _tvm,
    "two_part": _two_part,
}


def load_curriculum(
    per_family: int,
    *,
    seed: int,
    families: Iterable[str] = CURRICULUM_FAMILIES,
    exclude: Collection[str] = (),
    name: str | None = None,
) -> EvalDataset:
    """``per_family`` questions of each family, drawn with ``seed``.

    Args:
        per_family: Questions per family.
        seed: Different seeds give different questions.
        families: A subset of :data:`CURRICULUM_FAMILIES`.
        exclude: Questions that must not be drawn (another split's), redrawn on collision.
        name: The dataset's name (default ``curriculum-SEED``).

    Raises:
        DatasetError: An unknown family, or a family whose questions run out.
    """
    chosen = tuple(families)
    unknown = sorted(set(chosen) - set(CURRICULUM_FAMILIES))
    if unknown:
        raise DatasetError(
            f"unknown curriculum families {unknown}; choose from {', '.join(CURRICULUM_FAMILIES)}"
        )
    rng = random.Random(seed)
    taken = set(exclude)
    tasks: list[EvalTask] = []
    for index in range(per_family):
        for family in chosen:
            for _ in range(1000):
                question, answer, data = _MAKERS[family](rng)
                if question not in taken:
                    break
            else:
                raise DatasetError(
                    f"the curriculum has too few distinct {family} questions for "
                    f"{per_family} per family beside the excluded ones"
                )
            taken.add(question)
            data = {**data, "expected_capabilities": list(NEEDED_CAPABILITIES[family])}
            tasks.append(EvalTask(f"{family}-{seed}-{index}", question, answer, family, data=data))
    return EvalDataset(
        name=name or f"curriculum-{seed}",
        tasks=tasks,
        answer_format=GAIA_ANSWER_FORMAT,
        scorer=score_curriculum,
    )
