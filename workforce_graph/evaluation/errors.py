"""The evaluation's one error: it cannot start, said in one actionable line.

A leaf, so the runner, the comparison and the executors raise it without importing each
other; ``workforce_graph.evaluation.runner`` re-exports it where it was always found.
"""

from __future__ import annotations

__all__ = ["EvalError"]


class EvalError(RuntimeError):
    """The evaluation cannot start (one actionable line)."""
