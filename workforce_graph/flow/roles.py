"""Run metadata naming the role of every model call (the trajectory recorder reads it).

Every call the flow makes carries ``run_name="workforce:<role>"``, the tag
``workforce:<role>`` and the metadata ``workforce_role``, ``workforce_node``,
``subtask_id`` and ``turn``, so a LangChain callback handler (or a LangSmith trace) can
tell the planner's turns from the executor's and verifier's calls.
"""

from __future__ import annotations

from langchain_core.runnables import RunnableConfig

from workforce_graph.models import FlowRole

__all__ = ["role_config"]


def role_config(
    config: RunnableConfig | None,
    role: FlowRole,
    node: str,
    *,
    subtask_id: str | None = None,
    turn: int | None = None,
) -> RunnableConfig:
    """``config`` with the run name, tag and metadata of one role's model call."""
    # A shallow copy with one tag and four metadata keys added: merge_configs would also
    # rebuild the callback managers, which costs more than the rest of a node.
    base: RunnableConfig = config or {}
    return {
        **base,
        "run_name": f"workforce:{role}",
        "tags": [*base.get("tags", []), f"workforce:{role}"],
        "metadata": {
            **base.get("metadata", {}),
            "workforce_role": role,
            "workforce_node": node,
            "subtask_id": subtask_id,
            "turn": turn,
        },
    }
