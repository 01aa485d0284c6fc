"""Each model call's role in its run metadata, so traces and test models read by role.

Every model call of a graph carries ``run_name`` and a tag ``workforce:<role>`` and the
metadata ``workforce_role``, ``workforce_node``, ``subtask_id`` and ``turn``: LangSmith
traces group by them, a LangChain callback handler (a trajectory recorder) reads them,
and :class:`~workforce_graph.testing.ScriptedChatModel` answers by them.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig

from workforce_graph.topologies import Role

__all__ = ["TAG_PREFIX", "ModelRole", "role_config", "role_from_run"]

ModelRole = Role
"""A model call's role: ``workforce_graph.topologies`` declares them, per topology."""
TAG_PREFIX = "workforce:"


def role_config(
    config: RunnableConfig | None,
    role: ModelRole,
    *,
    node: str,
    subtask_id: str | None = None,
    turn: int | None = None,
) -> RunnableConfig:
    """``config`` for one model call of ``role`` made by graph node ``node``."""
    tag = f"{TAG_PREFIX}{role}"
    # A shallow copy with one tag and four metadata keys added, as merge_configs would
    # make, without rebuilding the callback managers (it costs about 0.1 ms a call).
    base: RunnableConfig = config or {}
    tags = base.get("tags") or []
    return {
        **base,
        "run_name": tag,
        "tags": tags if tag in tags else [*tags, tag],
        "metadata": {
            **(base.get("metadata") or {}),
            "workforce_role": role,
            "workforce_node": node,
            "subtask_id": subtask_id,
            "turn": turn,
        },
    }


def role_from_run(tags: list[str] | None, metadata: dict[str, Any] | None) -> str | None:
    """The role a model run was made for, from its metadata or (innermost) tag."""
    role = (metadata or {}).get("workforce_role")
    if isinstance(role, str):
        return role
    for tag in reversed(tags or []):
        if tag.startswith(TAG_PREFIX):
            return tag[len(TAG_PREFIX) :]
    return None
