"""Where runs are kept: a LangGraph checkpointer plus a small index of runs.

One ``--db`` value names both. By default runs go to an embedded SQLite file in the
per-user data directory (``$WORKFORCE_GRAPH_DB`` overrides it); ``postgresql://...``
uses PostgreSQL (the ``postgres`` extra); ``memory`` keeps nothing after the process
ends. The run index (thread id, task, status, times, run options) lives in a
``workforce_runs`` table of the same database, so ``workforce-graph runs`` lists runs
without deserialising checkpoints, and ``resume`` can reuse the options of a run.

Example:
    >>> async with open_run_store("runs.sqlite") as store:  # doctest: +SKIP
    ...     graph = builder.compile(checkpointer=store.checkpointer)
    ...     await store.record_start(RunRecord.new("t1", "the task"))
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver

__all__ = [
    "DB_ENV",
    "MEMORY",
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

DB_ENV = "WORKFORCE_GRAPH_DB"
MEMORY = "memory"
APP_NAME = "workforce-graph"
POSTGRES_CONNECT_TIMEOUT_S = 10

RunStatus = Literal["running", "paused", "interrupted", "answered", "incomplete", "failed"]
FINAL_STATUSES: frozenset[str] = frozenset({"answered", "incomplete", "failed"})


class PersistenceError(RuntimeError):
    """The run database cannot be used; the message says why, in one line."""


def default_db_path() -> Path:
    """The SQLite file runs go to by default (in the per-user data directory).

    Returns:
        e.g. ``~/.local/share/workforce-graph/runs.sqlite`` on Linux.

    Example:
        >>> default_db_path().name
        'runs.sqlite'
    """
    from platformdirs import user_data_path

    return user_data_path(APP_NAME, appauthor=False) / "runs.sqlite"


@dataclass(frozen=True)
class DbTarget:
    """A parsed ``--db`` value."""

    kind: Literal["sqlite", "postgres", "memory"]
    location: str
    """The SQLite path, the PostgreSQL DSN, or ``memory``."""

    def describe(self) -> str:
        """The target for messages, with any password hidden."""
        if self.kind != "postgres":
            return self.location
        parts = urlsplit(self.location)
        if parts.password:
            host = parts.hostname or ""
            netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
            return urlunsplit(parts._replace(netloc=netloc))
        return self.location


def parse_db(value: str | None = None) -> DbTarget:
    """Read a ``--db`` value: ``value``, else ``$WORKFORCE_GRAPH_DB``, else the default file.

    Args:
        value: A SQLite file path, a ``postgresql://`` (or ``postgres://``) DSN, or
            ``memory``.

    Returns:
        The target.

    Example:
        >>> parse_db("memory").kind
        'memory'
        >>> parse_db("postgresql://u@localhost/db").kind
        'postgres'
    """
    raw = (value or os.environ.get(DB_ENV) or "").strip()
    if not raw:
        return DbTarget("sqlite", str(default_db_path()))
    if raw.lower() == MEMORY or raw == ":memory:":
        return DbTarget("memory", MEMORY)
    if raw.startswith(("postgresql://", "postgres://")):
        return DbTarget("postgres", raw)
    if raw.startswith("sqlite:///"):
        raw = raw.removeprefix("sqlite:///")
    return DbTarget("sqlite", str(Path(raw).expanduser()))


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


_COLUMNS = (
    "thread_id",
    "task",
    "status",
    "started_at",
    "updated_at",
    "finished_at",
    "options",
    "pid",
    "host",
)


def _row(record: RunRecord) -> tuple[Any, ...]:
    return (
        record.thread_id,
        record.task,
        record.status,
        record.started_at,
        record.updated_at,
        record.finished_at,
        json.dumps(record.options),
        record.pid,
        record.host,
    )


def _record(row: Sequence[Any] | Mapping[str, Any]) -> RunRecord:
    values = dict(row) if isinstance(row, Mapping) else dict(zip(_COLUMNS, row, strict=True))
    values["options"] = json.loads(values.get("options") or "{}")
    return RunRecord(**values)


class RunStore:
    """A checkpointer and the run index kept next to it.

    Use :func:`open_run_store` to get one; the in-memory base class is what ``memory``
    gives.
    """

    def __init__(self, checkpointer: BaseCheckpointSaver[Any], target: DbTarget) -> None:
        self.checkpointer = checkpointer
        self.target = target
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


_CREATE = """CREATE TABLE IF NOT EXISTS workforce_runs (
    thread_id TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    finished_at DOUBLE PRECISION,
    options TEXT NOT NULL DEFAULT '{}',
    pid INTEGER,
    host TEXT
)"""
_UPSERT = (
    f"INSERT INTO workforce_runs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
    "ON CONFLICT (thread_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[1:])
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM workforce_runs"


class _SqlRunStore(RunStore):
    """The index as a table in the checkpointer's own database, on its connection."""

    placeholder = "?"

    async def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self.placeholder)

    async def setup(self) -> None:
        await self._execute(_CREATE)

    async def get_run(self, thread_id: str) -> RunRecord | None:
        rows = await self._execute(f"{_SELECT} WHERE thread_id = ?", (thread_id,))
        return _record(rows[0]) if rows else None

    async def list_runs(self, limit: int = 20) -> list[RunRecord]:
        rows = await self._execute(f"{_SELECT} ORDER BY started_at DESC LIMIT ?", (limit,))
        return [_record(r) for r in rows]

    async def _ids_starting_with(self, prefix: str) -> list[str]:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = await self._execute(
            "SELECT thread_id FROM workforce_runs WHERE thread_id LIKE ? ESCAPE '\\' "
            "ORDER BY thread_id LIMIT 10",
            (escaped + "%",),
        )
        return [r["thread_id"] if isinstance(r, Mapping) else r[0] for r in rows]

    async def _put(self, record: RunRecord) -> None:
        await self._execute(_UPSERT, _row(record))


class _SqliteRunStore(_SqlRunStore):
    async def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        saver: Any = self.checkpointer
        # The saver's lock serialises every use of its single aiosqlite connection.
        async with saver.lock:
            async with saver.conn.execute(self._sql(sql), tuple(params)) as cursor:
                rows = list(await cursor.fetchall())
            await saver.conn.commit()
        return rows


class _PostgresRunStore(_SqlRunStore):
    placeholder = "%s"

    async def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        saver: Any = self.checkpointer
        async with saver.lock, saver.conn.cursor() as cursor:
            await cursor.execute(self._sql(sql), tuple(params))
            return list(await cursor.fetchall()) if cursor.description else []


@asynccontextmanager
async def open_run_store(db: str | DbTarget | None = None) -> AsyncIterator[RunStore]:
    """Open the checkpointer and run index a ``--db`` value names, set up and ready.

    Args:
        db: See :func:`parse_db` (default: ``$WORKFORCE_GRAPH_DB``, else the per-user
            SQLite file).

    Yields:
        The store; its ``checkpointer`` is an ``AsyncSqliteSaver``,
        ``AsyncPostgresSaver`` or ``InMemorySaver``.

    Raises:
        PersistenceError: The database cannot be opened (one-line reason).

    Example:
        >>> async with open_run_store("memory") as store:  # doctest: +SKIP
        ...     graph = builder.compile(checkpointer=store.checkpointer)
    """
    target = db if isinstance(db, DbTarget) else parse_db(db)
    if target.kind == "memory":
        yield RunStore(InMemorySaver(), target)
    elif target.kind == "sqlite":
        async with _sqlite(target) as store:
            yield store
    else:
        async with _postgres(target) as store:
            yield store


@asynccontextmanager
async def open_checkpointer(db: str | None = None) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """Open just the checkpointer a ``--db`` value names (see :func:`open_run_store`).

    Args:
        db: A SQLite path, a ``postgresql://`` DSN or ``memory``.

    Yields:
        A set-up checkpointer, closed on exit.

    Example:
        >>> async with open_checkpointer("runs.sqlite") as saver:  # doctest: +SKIP
        ...     graph = build_workforce_graph().compile(checkpointer=saver)
    """
    async with open_run_store(db) as store:
        yield store.checkpointer


@asynccontextmanager
async def _sqlite(target: DbTarget) -> AsyncIterator[RunStore]:
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path = Path(target.location)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(str(path))
    except (OSError, aiosqlite.Error) as exc:
        raise PersistenceError(f"cannot open the run database {path}: {exc}") from exc
    try:
        store = _SqliteRunStore(AsyncSqliteSaver(conn), target)
        try:
            await store.checkpointer.setup()  # type: ignore[attr-defined]
            await store.setup()
        except aiosqlite.Error as exc:
            raise PersistenceError(f"cannot use the run database {path}: {exc}") from exc
        yield store
    finally:
        await conn.close()


@asynccontextmanager
async def _postgres(target: DbTarget) -> AsyncIterator[RunStore]:
    try:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg import AsyncConnection, Error
        from psycopg.rows import dict_row
    except ImportError as exc:
        raise PersistenceError(
            "--db postgresql://... needs the postgres extra: "
            "pip install 'workforce-graph[postgres]'"
        ) from exc
    try:
        conn = await AsyncConnection.connect(
            target.location,
            autocommit=True,
            prepare_threshold=0,
            row_factory=dict_row,
            connect_timeout=POSTGRES_CONNECT_TIMEOUT_S,
        )
    except Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PersistenceError(f"cannot connect to {target.describe()}: {first}") from exc
    try:
        store = _PostgresRunStore(AsyncPostgresSaver(conn), target)
        try:
            await store.checkpointer.setup()  # type: ignore[attr-defined]
            await store.setup()
        except Error as exc:
            raise PersistenceError(f"cannot set up {target.describe()}: {exc}") from exc
        yield store
    finally:
        await conn.close()
