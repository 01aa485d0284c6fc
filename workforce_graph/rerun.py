"""Rerun a finished run from one subtask, on a new branch of its thread.

The subtask and everything that depends on it (transitively) go back to pending, every
other result is kept, and the run continues at the coordinator: the planner is not
asked again. The new state is written with LangGraph's ``update_state`` as if the
verifier had decided to dispatch, so the old checkpoints (and the old answer) stay in
the thread's history, reachable with ``graph.aget_state_history(config)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage, RemoveMessage
from langchain_core.runnables import RunnableConfig

from workforce_graph.lifecycle import reopen

__all__ = ["NoPlanToRerun", "rerun_from", "rerun_values"]

RERUN_AS_NODE = "verifier"
"""The node the rerun's state is written as: its ``dispatch`` verdict routes to the
coordinator in every build of the graph (with or without plan review)."""


class NoPlanToRerun(LookupError):
    """The thread has no plan of subtasks (never planned, or a flow run)."""


def rerun_values(
    state: Mapping[str, Any], subtask_id: str, *, description: str | None = None
) -> dict[str, Any]:
    """The state update that reopens ``subtask_id`` and its dependants.

    Args:
        state: The run's state values (a checkpoint's ``values``).
        subtask_id: The subtask to run again.
        description: Replaces that subtask's description first.

    Returns:
        Values for ``update_state``: the reopened plan, the answer and the end-of-run
        notes cleared, and the old answer's message removed.

    Raises:
        NoPlanToRerun: The state has no subtasks.
        UnknownSubtaskError: No subtask has that id.
    """
    subtasks = list(state.get("subtasks") or [])
    if not subtasks:
        raise NoPlanToRerun("the run has no plan of subtasks to rerun")
    values: dict[str, Any] = {
        "subtasks": reopen(subtasks, subtask_id, description=description),
        "verdict": "dispatch",
        "answer": None,
        "error": None,
        "stop_reason": None,
        # A rerun is new work: it gets the whole time budget and a clean server-error
        # streak, rather than finishing at once because the first run spent them.
        "elapsed_s": 0.0,
        "server_errors": 0,
    }
    # The generator reads earlier messages as the conversation so far; the old answer
    # left there would read as an earlier reply to the same request.
    answer = state.get("answer") or {}
    old = [
        m
        for m in state.get("messages") or []
        if isinstance(m, AIMessage) and m.id and m.content == answer.get("text")
    ]
    if old:
        values["messages"] = [RemoveMessage(id=str(old[-1].id))]
    return values


async def rerun_from(
    graph: Any,
    config: RunnableConfig,
    subtask_id: str,
    *,
    description: str | None = None,
) -> RunnableConfig:
    """Put a run on a new branch where ``subtask_id`` and its dependants are pending again.

    Continue it with ``await graph.ainvoke(None, new_config)``: the coordinator assigns
    the reopened subtasks, the workers run them (and only them), and the generator
    writes a new answer. Usage adds up across the branch.

    Args:
        graph: The compiled workforce graph, with the checkpointer holding the run.
        config: The run's config (``{"configurable": {"thread_id": ...}}``); with a
            ``checkpoint_id`` the branch starts from that checkpoint instead of the
            latest.
        subtask_id: The subtask to run again.
        description: Replaces that subtask's description first.

    Returns:
        The config of the new branch's checkpoint.

    Raises:
        NoPlanToRerun: The thread has no plan (unknown thread, or not yet planned).
        UnknownSubtaskError: No subtask has that id.

    Example:
        >>> new = await rerun_from(graph, config, "s3")  # doctest: +SKIP
        >>> state = await graph.ainvoke(None, new)  # doctest: +SKIP
    """
    snapshot = await graph.aget_state(config)
    values = rerun_values(snapshot.values or {}, subtask_id, description=description)
    updated: RunnableConfig = await graph.aupdate_state(
        snapshot.config, values, as_node=RERUN_AS_NODE
    )
    return updated
