"""Past runs in a LangGraph store (``BaseStore``): written, read, scored, cleared.

Any store works: ``InMemoryStore``, ``AsyncSqliteStore`` (what the CLI opens in its
SQLite database, beside the checkpoints), ``AsyncPostgresStore``, or the one LangGraph
Server gives a deployed graph. Records live under :data:`NAMESPACE`, one per run, keyed
by :func:`~workforce_graph.past_runs.record.record_key`.

Example:
    >>> from langgraph.store.memory import InMemoryStore
    >>> store = InMemoryStore()
    >>> await write_record(store, record)  # doctest: +SKIP
    >>> [r["key"] for r in await load_records(store)]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.store.base import BaseStore

from workforce_graph.past_runs.record import PastRun

__all__ = [
    "CANDIDATES",
    "NAMESPACE",
    "clear_records",
    "find_record",
    "load_records",
    "score_records",
    "write_record",
]

NAMESPACE: tuple[str, ...] = ("workforce_graph", "past_runs")
CANDIDATES = 1_000
"""Records read for a retrieval: the newest ones (SQLite and PostgreSQL return the most
recently written first), so a long-lived memory costs a bounded read."""
_PAGE = 200


async def write_record(store: BaseStore, record: PastRun) -> None:
    """Keep ``record`` (replacing the record of the same key)."""
    await store.aput(NAMESPACE, record["key"], dict(record), index=False)


def _ordered(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Newest first, then by key: the same records in the same order from any store."""
    return sorted(records, key=lambda r: (-float(r.get("finished_at") or 0), str(r.get("key"))))


async def load_records(
    store: BaseStore, *, limit: int = CANDIDATES, filter: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Up to ``limit`` records, newest first (``filter``: fields a record must equal)."""
    records: list[dict[str, Any]] = []
    offset = 0
    while len(records) < limit:
        page = await store.asearch(
            NAMESPACE,
            filter=dict(filter) if filter else None,
            limit=min(_PAGE, limit - len(records)),
            offset=offset,
        )
        records += [dict(item.value) for item in page]
        if len(page) < _PAGE:
            break
        offset += len(page)
    return _ordered(records)


async def find_record(store: BaseStore, key: str) -> dict[str, Any]:
    """The record whose key is ``key`` or starts with it.

    Raises:
        LookupError: No record, or several, match (the message says which).
    """
    item = await store.aget(NAMESPACE, key)
    if item is not None:
        return dict(item.value)
    matches = [r for r in await load_records(store) if str(r.get("key", "")).startswith(key)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        keys = ", ".join(sorted(str(r["key"]) for r in matches)[:5])
        raise LookupError(f"past run {key!r} is ambiguous: {keys}")
    raise LookupError(f"no past run {key!r} (list them with: workforce-graph memory list)")


async def score_records(store: BaseStore, thread_id: str, score: float) -> int:
    """Give every record of ``thread_id`` its evaluation ``score``; how many there were."""
    records = await load_records(store, filter={"thread_id": thread_id})
    for record in records:
        await store.aput(NAMESPACE, str(record["key"]), {**record, "score": score}, index=False)
    return len(records)


async def clear_records(store: BaseStore) -> int:
    """Delete every record; how many there were."""
    deleted = 0
    while True:
        page = await store.asearch(NAMESPACE, limit=_PAGE)
        if not page:
            return deleted
        for item in page:
            await store.adelete(NAMESPACE, item.key)
        deleted += len(page)
