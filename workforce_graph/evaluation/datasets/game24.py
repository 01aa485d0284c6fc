"""Game of 24: the 1,362 puzzles of the ``tree-of-thoughts-llm`` package's data file,
with an exact checker of the expression.

The package pins old versions of numpy, pandas and openai, so it is installed without
its dependencies (``pip install --no-deps tree-of-thoughts-llm``); only its CSV is read.
"""

from __future__ import annotations

import ast
import csv
import importlib.resources
import io
import re
from collections import Counter
from fractions import Fraction

from workforce_graph.evaluation.datasets.base import DatasetError, EvalDataset, EvalTask

__all__ = ["check_24", "load_game24", "parse_puzzles"]

ANSWER_FORMAT = (
    "Finish with the template FINAL ANSWER: [EXPRESSION], where EXPRESSION uses each of "
    "the four numbers exactly once with + - * / and parentheses and equals 24, e.g. "
    "FINAL ANSWER: (1 + 2 + 3) * 4"
)
INSTALL_HINT = "pip install --no-deps tree-of-thoughts-llm"


def _value(node: ast.AST, used: list[int]) -> Fraction:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        used.append(node.value)
        return Fraction(node.value)
    if isinstance(node, ast.BinOp):
        left, right = _value(node.left, used), _value(node.right, used)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Div):
            return left / right  # ZeroDivisionError is a wrong answer
    raise ValueError("only integers, + - * / and parentheses are allowed")


def check_24(expression: str, numbers: list[int]) -> bool:
    """Does ``expression`` use exactly ``numbers`` (each once) and equal 24 exactly?"""
    text = expression.split("=")[0].replace("×", "*").replace("÷", "/").replace("−", "-")
    text = text.strip().strip("`$").strip()
    if not text or len(text) > 200:
        return False
    try:
        tree = ast.parse(text, mode="eval")
        used: list[int] = []
        value = _value(tree.body, used)
    except (SyntaxError, ValueError, ZeroDivisionError):
        return False
    return Counter(used) == Counter(numbers) and value == 24


def parse_puzzles(text: str) -> list[list[int]]:
    """The ``Puzzles`` column of ToT's ``24.csv``, in file order."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "Puzzles" not in reader.fieldnames:
        raise DatasetError("the Game of 24 file has no 'Puzzles' column")
    return [[int(n) for n in re.findall(r"\d+", row["Puzzles"])] for row in reader]


def _data_file() -> str:
    try:
        return (importlib.resources.files("tot") / "data" / "24" / "24.csv").read_text()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise DatasetError(
            f"game24 reads the puzzles of tree-of-thoughts-llm: {INSTALL_HINT}"
        ) from exc


def _score(task: EvalTask, extracted: str) -> float:
    return 1.0 if check_24(extracted, list(task.data["numbers"])) else 0.0


def load_game24(text: str | None = None) -> EvalDataset:
    """All puzzles in file order (ToT's file is sorted from easy to hard)."""
    puzzles = parse_puzzles(text if text is not None else _data_file())
    tasks = [
        EvalTask(
            task_id=f"game24-{index:04d}",
            question=(
                "Use the numbers "
                + " ".join(map(str, numbers))
                + " and basic arithmetic operations (+ - * /) to obtain 24. Each number "
                "must be used exactly once."
            ),
            answer="24",
            family="game24",
            data={"numbers": numbers, "display": " ".join(map(str, numbers)) + " → 24"},
        )
        for index, numbers in enumerate(puzzles)
    ]
    return EvalDataset(name="game24", tasks=tasks, answer_format=ANSWER_FORMAT, scorer=_score)
