"""What the graphs do with past runs: recall them for a planner, remember a finished run.

Both read the store LangGraph hands a node (``runtime.store``: the ``store`` the graph
was compiled with, or the one LangGraph Server provides), never a global, and do
nothing without one or with ``memory=False``. A store that fails costs the run nothing
but a ``past_runs`` event saying so: the memory is a help, not a part of the answer.

Whoever runs a graph can withhold records through the result filter
(:mod:`workforce_graph.result_filter`): each candidate record is offered to it as a
result whose ``url`` starts with :data:`PAST_RUN_URL`. The evaluation's leakage guard
withholds records of the question being evaluated this way.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore

from workforce_graph.events import emit
from workforce_graph.past_runs.record import PastRun, record_text
from workforce_graph.past_runs.retrieval import rank_similar, render_past_runs
from workforce_graph.past_runs.store import load_records, write_record
from workforce_graph.result_filter import active_filter
from workforce_graph.settings import WorkforceSettings

__all__ = ["PAST_RUN_URL", "RecordBuilder", "recall", "remembering", "without_withheld"]

PAST_RUN_URL = "past-run:"
"""How a record is named to the result filter: ``past-run:KEY``."""

RecordBuilder = Callable[..., PastRun]
"""``build(final_state, thread_id=..., now=...)``: a finished run's record."""


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def without_withheld(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``records`` without those the active result filter withholds (all without one)."""
    active = active_filter()
    if active is None:
        return list(records)
    offered = [
        {
            "url": PAST_RUN_URL + str(r.get("key")),
            "title": str(r.get("request") or ""),
            "content": record_text(r),
        }
        for r in records
    ]
    kept = {str(item.get("url")) for item in active.filter(offered)}
    return [r for r in records if PAST_RUN_URL + str(r.get("key")) in kept]


async def recall(store: BaseStore | None, request: str, settings: WorkforceSettings) -> str:
    """The past runs most similar to ``request`` as prompt text (``""``: none, no store,
    or ``memory`` off), within ``settings.past_runs_tokens``."""
    if store is None or not settings.memory or not request.strip():
        return ""
    try:
        records = await load_records(store)
    except Exception as exc:
        emit("past_runs", error=f"the memory of past runs could not be read: {_reason(exc)}")
        return ""
    ranked = rank_similar(request, without_withheld(records))
    if not ranked:
        return ""
    emit("past_runs", shown=[str(r["key"]) for r, _ in ranked])
    return render_past_runs([r for r, _ in ranked], settings.past_runs_tokens)


def remembering(node: Any, build: RecordBuilder, settings_for: Callable[[Any], Any]) -> Any:
    """``node`` (a generator) that then keeps the finished run's record in the store.

    Args:
        node: The node that writes the answer (``state, config, runtime``).
        build: Makes the record from the final state (``workforce_record``, ``flow_record``).
        settings_for: The run's settings from its context (``NodeDeps.settings_for``).
    """

    async def generator(
        state: Mapping[str, Any], config: RunnableConfig, runtime: Runtime[Any]
    ) -> dict[str, Any]:
        update: dict[str, Any] = await node(state, config, runtime)
        store = runtime.store
        if store is None or not settings_for(runtime.context).memory:
            return update
        thread_id = str((config.get("configurable") or {}).get("thread_id") or uuid.uuid4().hex)
        try:
            record = build({**state, **update}, thread_id=thread_id, now=time.time())
            await write_record(store, record)
        except Exception as exc:
            emit("past_runs", error=f"the run was not kept in the memory: {_reason(exc)}")
        return update

    return generator
