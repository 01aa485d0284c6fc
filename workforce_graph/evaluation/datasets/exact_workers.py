"""Exact workers for the curriculum: each does its own kind of work exactly, and only that.

The learning loop trains the planner alone, so its benchmark must be one where the
planner's decision decides the outcome. With the bundled 135M model as every worker it
is not: that model cannot multiply three-digit numbers, write a program that runs, or
call the finance tools with the question's numbers, so on four of the five curriculum
families no plan, right or wrong, leads to a right answer (measured in docs/training.md).
OWL trained its planner beside capable workers; these stand in for them. Each keeps the
name, description and capability tags of the installed worker it replaces, so the
planner sees the same cards, and works only from what the planner gave it (the subtask's
description and the results of the subtasks it depends on, never the request):

- ``code`` evaluates the arithmetic expressions in its subtask (``412 * 38``,
  ``(88 + 34) * 10 - 36``) and, asked to add or sum, adds them and the results it
  depends on; a subtask with no expression fails;
- ``finance`` computes a net present value from a percentage rate and a cash-flow
  series in its subtask (``paying 500 now and receiving 300, 400 and 150``) with the
  finance plugin's ``npv``; without both it fails;
- ``reasoning`` knows the curriculum's short facts (a description naming a fact's key
  words gets its answer) and cannot compute: a subtask with numbers to work out fails.

So every family has one right worker, a wrong routing fails, and a right routing whose
description lost the numbers fails too.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from langchain_core.runnables import RunnableLambda

from workforce_graph.evaluation.datasets.curriculum import FACTS
from workforce_graph.workers import SubtaskContext, WorkerOutcome, WorkerSpec

__all__ = [
    "EXACT_WORKERS",
    "ExactWorkers",
    "exact_workers",
    "solve_code",
    "solve_fact",
    "solve_npv",
]

EXACT_WORKERS = ("code", "reasoning", "finance")

_EXPRESSION = re.compile(r"[\d(][\d\s+\-*/().]*[\d)]")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?")
_SUM_WORDS = re.compile(r"\b(add|adds|added|sum|total|plus|together)\b", re.I)
_OPERATORS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_STOPWORDS = frozenset(
    {"what", "is", "the", "of", "which", "in", "a", "an", "do", "you", "does", "how"}
    | {"many", "are", "by", "to", "known", "as", "get"}
)


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return float(_OPERATORS[type(node.op)](_evaluate(node.left), _evaluate(node.right)))
    raise ValueError("not arithmetic")


def _shown(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.4f}".rstrip("0")


def _expressions(text: str) -> list[tuple[str, float]]:
    """The arithmetic expressions in ``text`` (at least one operator) and their values."""
    found = []
    for match in _EXPRESSION.finditer(text):
        candidate = match.group().strip()
        if not re.search(r"\d\s*[+\-*/]\s*[\d(]", candidate):
            continue
        try:
            found.append((candidate, _evaluate(ast.parse(candidate, mode="eval"))))
        except (SyntaxError, ValueError, ZeroDivisionError):
            continue
    return found


def _numbers(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in _NUMBER.findall(text)]


def solve_code(description: str, dependency_results: Sequence[str] = ()) -> str | None:
    """What the exact code worker answers, or ``None`` when it has nothing to compute."""
    task, _, context = description.partition("Context from earlier turns:")
    computed = _expressions(task)
    if _SUM_WORDS.search(task):
        # The parts to add: this subtask's own expressions, else the earlier results.
        parts = [value for _, value in computed]
        if len(parts) < 2:
            # A dependency's result ends with its value; the flow's context lists values.
            parts += [numbers[-1] for numbers in map(_numbers, dependency_results) if numbers]
            parts += _numbers(context)
        if len(parts) >= 2:
            return f"{' + '.join(map(_shown, parts))} = {_shown(sum(parts))}"
    if not computed:
        return None
    return "; ".join(f"{expression} = {_shown(value)}" for expression, value in computed)


def solve_npv(description: str) -> str | None:
    """The net present value a description states (a rate in percent, an outlay paid now,
    the cash flows received after it), or ``None`` when it does not state one."""
    from workforce_graph_plugin_finance.tvm import npv

    rate_match = re.search(r"(\d+(?:\.\d+)?)\s*%", description)
    if rate_match is None:
        return None
    rest = description[: rate_match.start()] + description[rate_match.end() :]
    flows = _numbers(rest)
    if len(flows) < 2:
        return None
    if flows[0] > 0 and re.search(r"\b(pay|paying|paid|invest|investing|outlay|cost)\b", rest):
        flows[0] = -flows[0]
    rate = float(rate_match.group(1)) / 100
    return f"NPV at {_shown(rate * 100)}% of {flows}: {npv(rate, flows):.2f}"


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if w not in _STOPWORDS}


def solve_fact(description: str) -> str | None:
    """The curriculum fact whose key words the description names, or ``None``."""
    words = _content_words(description)
    scored = []
    for question, answer in FACTS:
        key = _content_words(question)
        scored.append((len(key & words) / len(key), question, answer))
    scored.sort(reverse=True)
    best = scored[0]
    if best[0] < 0.6 or (len(scored) > 1 and scored[1][0] == best[0]):
        return None
    return best[2]


def _outcome(result: str | None, reason: str) -> WorkerOutcome:
    if result is None:
        return WorkerOutcome(status="failed", reason=reason)
    return WorkerOutcome(status="done", result=result)


def _code(context: SubtaskContext) -> WorkerOutcome:
    result = solve_code(context["description"], list(context["dependency_results"].values()))
    return _outcome(result, "the subtask has no arithmetic expression to compute")


def _finance(context: SubtaskContext) -> WorkerOutcome:
    return _outcome(
        solve_npv(context["description"]),
        "the subtask states no rate and cash flows to discount",
    )


def _reasoning(context: SubtaskContext) -> WorkerOutcome:
    description = context["description"]
    if _expressions(description) or re.search(r"\d\s*%", description):
        return _outcome(None, "exact figures need a worker that computes")
    return _outcome(solve_fact(description), "not a fact this worker knows")


_SOLVERS: dict[str, Callable[[SubtaskContext], WorkerOutcome]] = {
    "code": _code,
    "finance": _finance,
    "reasoning": _reasoning,
}


def exact_workers(installed: Sequence[WorkerSpec]) -> list[WorkerSpec]:
    """The exact stand-ins of the installed ``code``, ``reasoning`` and ``finance``
    workers: the same cards (name, description, capabilities, limitations, examples),
    no tools, and the exact solver above in place of a model.

    Raises:
        ValueError: One of the three is not among ``installed``.
    """
    by_name = {spec.name: spec for spec in installed}
    missing = [name for name in EXACT_WORKERS if name not in by_name]
    if missing:
        raise ValueError(
            f"the exact workers stand in for installed ones; missing: {', '.join(missing)} "
            "(the finance worker comes with pip install -e plugins/finance)"
        )
    return [
        replace(
            by_name[name],
            tools=(),
            system_prompt="",
            factory=_factory(_SOLVERS[name]),
            max_tool_calls=None,
        )
        for name in EXACT_WORKERS
    ]


def _factory(solve: Callable[[SubtaskContext], WorkerOutcome]) -> Callable[[Any], Any]:
    def build(model: Any) -> Any:
        return RunnableLambda(solve)

    return build


class ExactWorkers:
    """A picklable workers factory (``eval --exact-workers``, Ray included): the exact
    stand-ins of the installed workers."""

    def __call__(self) -> list[WorkerSpec]:
        from workforce_graph.plugins import collect_workers

        return exact_workers(list(collect_workers().available.values()))
