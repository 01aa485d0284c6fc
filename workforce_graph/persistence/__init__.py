"""Where runs are kept: a LangGraph checkpointer plus a small index of runs.

One ``--db`` value names both. By default runs go to an embedded SQLite file in the
per-user data directory (``$WORKFORCE_GRAPH_DB`` overrides it); ``postgresql://...``
uses PostgreSQL (the ``postgres`` extra); ``memory`` keeps nothing after the process
ends. The run index (thread id, task, status, times, run options) lives in a
``workforce_runs`` table of the same database, so ``workforce-graph runs`` lists runs
without deserialising checkpoints, and ``resume`` can reuse the options of a run.

The package is split by concept: :mod:`.target` (what a ``--db`` value names),
:mod:`.run_index` (the run records and the in-memory index) and :mod:`.stores`
(opening the checkpointer and the SQL-backed index).

Example:
    >>> async with open_run_store("runs.sqlite") as store:  # doctest: +SKIP
    ...     graph = builder.compile(checkpointer=store.checkpointer)
    ...     await store.record_start(RunRecord.new("t1", "the task"))
"""

from __future__ import annotations

from workforce_graph.persistence.run_index import FINAL_STATUSES, RunRecord, RunStatus, RunStore
from workforce_graph.persistence.stores import (
    POSTGRES_CONNECT_TIMEOUT_S,
    open_checkpointer,
    open_run_store,
)
from workforce_graph.persistence.target import (
    APP_NAME,
    DB_ENV,
    MEMORY,
    DbTarget,
    PersistenceError,
    default_db_path,
    parse_db,
)

__all__ = [
    "APP_NAME",
    "DB_ENV",
    "FINAL_STATUSES",
    "MEMORY",
    "POSTGRES_CONNECT_TIMEOUT_S",
    "DbTarget",
    "PersistenceError",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "default_db_path",
    "open_checkpointer",
    "open_run_store",
    "parse_db",
]
