"""Prompt parts the flow's planner and verifier share: the request, analysis and memory."""

from __future__ import annotations

from workforce_graph.flow.memory import render_memory
from workforce_graph.flow.state import FlowState

__all__ = ["situation"]


def situation(state: FlowState, memory_budget_tokens: int) -> str:
    """The request, earlier conversation, analysis, files and memory, as prompt text."""
    parts = [f"Request:\n{state.get('task', '')}"]
    if state.get("history"):
        parts.append(f"Earlier in this conversation:\n{state.get('history')}")
    analysis = state.get("analysis")
    if analysis:
        parts.append(
            "Analysis:\n"
            f"- needs: {analysis['needs']}\n"
            f"- relevant capabilities: {', '.join(analysis['capabilities']) or 'any'}\n"
            f"- answer form: {analysis['answer_form']}"
        )
    if state.get("attachments"):
        parts.append("Files given with the request: " + ", ".join(state.get("attachments", [])))
    parts.append(
        "Memory of the turns so far:\n"
        + render_memory(state.get("memory") or [], memory_budget_tokens)
    )
    return "\n\n".join(parts)
