"""Run budgets and options: set when the graph is built, overridable per run.

The factory's keyword options become :class:`WorkforceSettings`. A run may override any
of them through LangGraph's runtime context (:class:`WorkforceContext`), which is also
what LangGraph Studio shows as the assistant's configurable options.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

__all__ = ["WorkforceContext", "WorkforceSettings"]


@dataclass(frozen=True, kw_only=True)
class WorkforceSettings:
    """Budgets of one run. Counted in state, never left to ``recursion_limit``."""

    max_replans: int = 2
    """Replans after failed verification (2, as in the OWL paper)."""
    max_retries: int = 1
    """Re-runs of a failed subtask before the plan is given up on."""
    max_concurrency: int = 32
    """Subtasks running at once."""
    subtask_timeout_s: float = 300.0
    """Wall-clock limit of one subtask."""
    call_timeout_s: float = 120.0
    """Wall-clock limit of one model call, the client's retries included."""
    max_tool_calls: int = 15
    """Tool calls one subtask may make (15, as in the OWL paper)."""
    max_plan_attempts: int = 3
    """Planner calls to get a valid plan (repairs included) before the run ends."""
    max_subtasks: int = 40
    verify_results: bool = False
    """Check each result with the verifier model (doubles the cost of a run)."""

    def __post_init__(self) -> None:
        for name in ("max_replans", "max_retries", "max_tool_calls"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("max_concurrency", "max_plan_attempts", "max_subtasks"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        for name in ("subtask_timeout_s", "call_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")

    def overridden(self, context: Any) -> WorkforceSettings:
        """These settings with the non-``None`` options of a run's context applied."""
        if context is None:
            return self
        changes = {
            f.name: getattr(context, f.name)
            for f in fields(self)
            if getattr(context, f.name, None) is not None
        }
        return replace(self, **changes) if changes else self


@dataclass
class WorkforceContext:
    """Per-run options (LangGraph runtime context). ``None`` keeps the built-in value."""

    model: str | None = None
    """Default model for every role, e.g. ``openai:gpt-4o`` or ``local``."""
    planner_model: str | None = None
    coordinator_model: str | None = None
    worker_model: str | None = None
    verifier_model: str | None = None
    generator_model: str | None = None
    max_replans: int | None = None
    max_retries: int | None = None
    max_concurrency: int | None = None
    subtask_timeout_s: float | None = None
    call_timeout_s: float | None = None
    max_tool_calls: int | None = None
    verify_results: bool | None = None
