"""The run index: one record per run (thread id, task, status, times, run options).

It lives in a ``workforce_runs`` table of the checkpointer's own database, so
``workforce-graph runs`` lists runs without deserialising checkpoints, and ``resume``
can reuse the options of a run. :class:`RunStore` is the in-memory index (what
``--db memory`` gives); the SQL-backed ones are in :mod:`.stores`.

Example:
    >>> record = RunRecord.new("t1", "the task")
    >>> record.status
    'running'
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from workforce_graph.persistence.target import DbTarget

__all__ = [
    "FINAL_STATUSES",
    "RunRecord",
    "RunStatus",
    "RunStore",
]

RunStatus = Literal["running", "paused", "interrupted", "answered", "incomplete", "failed"]
FINAL_STATUSES: frozenset[str] = frozenset({"answered", "incomplete", "failed"})


@dataclass
class RunRecord:
    """One run in the index."""

    thread_id: str
    task: str
    status: str = "running"
    started_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    """The run's options (models, budgets), reused by ``resume``."""
    pid: int | None = None
    host: str | None = None

    @classmethod
    def new(cls, thread_id: str, task: str, options: Mapping[str, Any] | None = None) -> RunRecord:
        """A record for a run starting now in this process."""
        return cls(
            thread_id=thread_id,
            task=task,
            options=dict(options or {}),
            pid=os.getpid(),
            host=socket.gethostname(),
        )

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to finish (to the last update while unfinished)."""
        end = self.finished_at or self.updated_at
        return max(0.0, end - self.started_at) if end else None

    def effective_status(self) -> str:
        """The status, reading a ``running`` run whose process is gone as ``interrupted``."""
        if self.status == "running" and self.pid and self.host == socket.gethostname():
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return "interrupted"
            except PermissionError:
                pass  # alive, owned by someone else
        return self.status


class RunStore:
    """A checkpointer, the run index kept next to it, and a LangGraph store in the same
    database (``store``: where the memory of past runs lives).

    Use :func:`open_run_store` to get one; the in-memory base class is what ``memory``
    gives.
    """

    def __init__(
        self,
        checkpointer: BaseCheckpointSaver[Any],
        target: DbTarget,
        store: BaseStore | None = None,
    ) -> None:
        self.checkpointer = checkpointer
        self.target = target
        self.store: BaseStore = store if store is not None else InMemoryStore()
        self._runs: dict[str, RunRecord] = {}

    async def setup(self) -> None:
        """Create the index table when missing."""

    async def record_start(self, record: RunRecord) -> None:
        """Add a run (or restart one: a resumed run keeps its start time)."""
        existing = await self.get_run(record.thread_id)
        if existing is not None:
            record = replace(
                existing,
                status=record.status,
                updated_at=time.time(),
                finished_at=None,
                options=record.options or existing.options,
                pid=record.pid,
                host=record.host,
            )
        await self._put(record)

    async def set_status(self, thread_id: str, status: RunStatus) -> None:
        """Update a run's status; a final status also sets its finish time."""
        record = await self.get_run(thread_id)
        if record is None:
            return
        now = time.time()
        record.status, record.updated_at = status, now
        record.finished_at = now if status in FINAL_STATUSES else None
        await self._put(record)

    async def get_run(self, thread_id: str) -> RunRecord | None:
        """The run with this exact thread id."""
        record = self._runs.get(thread_id)
        return replace(record) if record else None

    async def list_runs(self, limit: int = 20) -> list[RunRecord]:
        """The most recent runs first."""
        runs = sorted(self._runs.values(), key=lambda r: r.started_at, reverse=True)
        return [replace(r) for r in runs[:limit]]

    async def find_thread(self, prefix: str) -> str:
        """The thread id a (possibly shortened) id names.

        Raises:
            LookupError: No run or several runs match (the message says which).
        """
        if await self.get_run(prefix) is not None:
            return prefix
        matches = await self._ids_starting_with(prefix)
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise LookupError(f"thread id {prefix!r} is ambiguous: " + ", ".join(matches[:5]))
        if await self.checkpointer.aget_tuple({"configurable": {"thread_id": prefix}}):
            return prefix  # a thread written by something other than the CLI
        raise LookupError(
            f"no run {prefix!r} in {self.target.describe()} (list runs with: workforce-graph runs)"
        )

    async def _ids_starting_with(self, prefix: str) -> list[str]:
        return sorted(t for t in self._runs if t.startswith(prefix))

    async def _put(self, record: RunRecord) -> None:
        self._runs[record.thread_id] = replace(record)
