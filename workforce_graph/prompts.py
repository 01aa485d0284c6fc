"""Prompt text shared by several nodes: worker cards, a subtask's prompt, brief results.

The planner and the coordinator show the workers the same way; the workers and the
verifier show a subtask the same way; every result that flows into another prompt is
cut by :func:`brief`, so no prompt grows with the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from workforce_graph.bounds import bound

if TYPE_CHECKING:
    from workforce_graph.workers import SubtaskContext, WorkerSpec

__all__ = ["BRIEF_RESULT_CHARS", "brief", "describe_workers", "render_subtask_prompt"]

BRIEF_RESULT_CHARS = 2_000
"""How much of a dependency's result a worker sees."""


def brief(text: str, limit: int = BRIEF_RESULT_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with a marker when it was cut."""
    return bound(text, limit)


def describe_workers(specs: Sequence[WorkerSpec], *, examples: bool = True) -> str:
    """The workers' declarations as compact text for a prompt.

    Text rather than JSON: about half the tokens, which small local models need.
    ``examples=False`` leaves out the "good at" examples: a small model copies them
    into its plans in place of the user's request.
    """
    lines = []
    for spec in specs:
        lines.append(f"- {spec.name}: {spec.description.strip()}")
        lines.append(f"  capabilities: {', '.join(spec.capabilities)}")
        if spec.tools:
            lines.append(f"  tools: {', '.join(t.name for t in spec.tools)}")
        if spec.limitations:
            lines.append(f"  cannot: {'; '.join(spec.limitations)}")
        if examples and spec.examples:
            lines.append(f"  good at, e.g.: {'; '.join(spec.examples)}")
    return "\n".join(lines)


def render_subtask_prompt(context: SubtaskContext) -> str:
    """The user message a worker gets: request, subtask, dependency results, files.

    The dependency results are already brief (see :class:`SubtaskContext`).
    """
    parts = [f"Overall request (for context only):\n{context['request']}"]
    parts.append(f"Your subtask ({context['subtask_id']}):\n{context['description']}")
    if context["dependency_results"]:
        deps = "\n\n".join(
            f"[{dep_id}]\n{result}" for dep_id, result in context["dependency_results"].items()
        )
        parts.append(f"Results of the subtasks this one depends on:\n{deps}")
    if context["attachments"]:
        parts.append("Files given with the request: " + ", ".join(context["attachments"]))
    return "\n\n".join(parts)
