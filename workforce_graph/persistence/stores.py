"""Opening a ``--db`` target: the checkpointer plus the run index in the same database.

SQLite and PostgreSQL keep the index as a ``workforce_runs`` table next to the
checkpoints, reached through the checkpointer's own connection, and a LangGraph store
(``AsyncSqliteStore``, ``AsyncPostgresStore``: the memory of past runs) on a second
connection to the same database, since the store runs transactions of its own;
``memory`` uses the in-memory :class:`~workforce_graph.persistence.run_index.RunStore`.

Example:
    >>> async with open_run_store("runs.sqlite") as store:  # doctest: +SKIP
    ...     graph = builder.compile(checkpointer=store.checkpointer)
    ...     await store.record_start(RunRecord.new("t1", "the task"))
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver

from workforce_graph.persistence.run_index import RunRecord, RunStore
from workforce_graph.persistence.target import DbTarget, PersistenceError, parse_db

__all__ = [
    "POSTGRES_CONNECT_TIMEOUT_S",
    "open_checkpointer",
    "open_run_store",
]

POSTGRES_CONNECT_TIMEOUT_S = 10
_SETUP_LOCK = 0x77666700
"""The advisory lock key under which a PostgreSQL database's tables are set up."""
SETUP_WAIT_S = 120.0
SQLITE_BUSY_TIMEOUT_S = 30.0
"""How long a SQLite statement waits for another connection's lock (SQLite's default,
5 s, was too short for two runs writing one file on a loaded machine)."""
SQLITE_SETUP_ATTEMPTS = 5
"""Tries at setting up a SQLite file that another process is setting up too."""
"""How long a process waits for another to finish setting up a PostgreSQL database."""

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
        ``AsyncPostgresSaver`` or ``InMemorySaver``, and its ``store`` (LangGraph's
        ``BaseStore``, for ``compile(store=...)``) an ``AsyncSqliteStore``,
        ``AsyncPostgresStore`` or ``InMemoryStore`` in the same database.

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
    from langgraph.store.sqlite.aio import AsyncSqliteStore

    path = Path(target.location)
    try:
        if path.is_dir():
            raise PersistenceError(f"cannot open the run database {path}: it is a directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        # Opened once without aiosqlite first: a failed aiosqlite connect leaves its
        # worker thread behind, which prints a traceback when the process ends.
        sqlite3.connect(str(path)).close()
        conn = await aiosqlite.connect(str(path), timeout=SQLITE_BUSY_TIMEOUT_S)
    except (OSError, sqlite3.Error) as exc:
        raise PersistenceError(f"cannot open the run database {path}: {exc}") from exc
    try:
        # Autocommit: the store begins and commits its own transactions.
        store_conn = await aiosqlite.connect(
            str(path), isolation_level=None, timeout=SQLITE_BUSY_TIMEOUT_S
        )
    except (OSError, sqlite3.Error) as exc:
        await conn.close()
        raise PersistenceError(f"cannot open the run database {path}: {exc}") from exc
    try:
        store = _SqliteRunStore(AsyncSqliteSaver(conn), target, AsyncSqliteStore(store_conn))
        for attempt in range(1, SQLITE_SETUP_ATTEMPTS + 1):
            try:
                await store.checkpointer.setup()  # type: ignore[attr-defined]
                await store.setup()
                await _set_up_sqlite_store(store.store)
                break
            except sqlite3.OperationalError as exc:
                # Some of SQLite's lock conflicts (switching to WAL, upgrading a read
                # to a write) fail at once instead of waiting out the busy timeout;
                # the steps are idempotent, so another process setting up the same
                # file is waited for by trying again.
                if "locked" not in str(exc) or attempt == SQLITE_SETUP_ATTEMPTS:
                    raise PersistenceError(f"cannot use the run database {path}: {exc}") from exc
                await conn.rollback()
                await asyncio.sleep(0.05 * 2**attempt)
            except sqlite3.Error as exc:
                raise PersistenceError(f"cannot use the run database {path}: {exc}") from exc
        yield store
    finally:
        await store_conn.close()
        await conn.close()


async def _set_up_sqlite_store(store: Any) -> None:
    """The store's tables, made in one transaction before its own ``setup``.

    The store applies its migrations one statement at a time: two processes opening a
    new database at once both applied them, and one failed ("UNIQUE constraint failed:
    store_migrations.v"). ``BEGIN IMMEDIATE`` makes the second wait for the first.
    """
    conn = store.conn
    await conn.execute("BEGIN IMMEDIATE")
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS store_migrations (v INTEGER PRIMARY KEY)")
        async with conn.execute("SELECT v FROM store_migrations ORDER BY v DESC LIMIT 1") as cursor:
            row = await cursor.fetchone()
        version = -1 if row is None else int(row[0])
        for number, sql in enumerate(store.MIGRATIONS[version + 1 :], start=version + 1):
            await conn.execute(sql)
            await conn.execute("INSERT INTO store_migrations (v) VALUES (?)", (number,))
        await conn.execute("COMMIT")
    except BaseException:
        await conn.execute("ROLLBACK")
        raise
    await store.setup()  # now only what it keeps in the connection


@asynccontextmanager
async def _postgres(target: DbTarget) -> AsyncIterator[RunStore]:
    try:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from langgraph.store.postgres.aio import AsyncPostgresStore
        from psycopg import AsyncConnection, Error
        from psycopg.rows import dict_row
    except ImportError as exc:
        raise PersistenceError(
            "--db postgresql://... needs the postgres extra: "
            "pip install 'workforce-graph[postgres]'"
        ) from exc

    async def connect() -> Any:
        try:
            return await AsyncConnection.connect(
                target.location,
                autocommit=True,
                prepare_threshold=0,
                row_factory=dict_row,
                connect_timeout=POSTGRES_CONNECT_TIMEOUT_S,
            )
        except Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise PersistenceError(f"cannot connect to {target.describe()}: {first}") from exc

    conn = await connect()
    try:
        # Its own connection: the store runs transactions the saver's must not share.
        store_conn = await connect()
    except PersistenceError:
        await conn.close()
        raise
    try:
        store = _PostgresRunStore(AsyncPostgresSaver(conn), target, AsyncPostgresStore(store_conn))
        try:
            async with _setting_up(conn, target):
                await store.checkpointer.setup()  # type: ignore[attr-defined]
                await store.setup()
                await store.store.setup()  # type: ignore[attr-defined]
        except Error as exc:
            raise PersistenceError(f"cannot set up {target.describe()}: {exc}") from exc
        yield store
    finally:
        await store_conn.close()
        await conn.close()


@asynccontextmanager
async def _setting_up(conn: Any, target: DbTarget) -> AsyncIterator[None]:
    """Hold the database's set-up lock (one process at a time) for the ``with`` block.

    The saver and the store apply their migrations one statement at a time: processes
    opening a new database at once (Ray workers, two CLI runs) applied them twice and
    failed on the migrations' keys. The lock is tried, not waited for inside the server:
    the saver's ``CREATE INDEX CONCURRENTLY`` waits for every open transaction, a
    blocked ``pg_advisory_lock`` call included, which the server then reports as a
    deadlock.
    """
    deadline = time.monotonic() + SETUP_WAIT_S
    while True:
        cursor = await conn.execute("SELECT pg_try_advisory_lock(%s) AS held", (_SETUP_LOCK,))
        row = await cursor.fetchone()
        if row is not None and row["held"]:
            break
        if time.monotonic() > deadline:
            raise PersistenceError(
                f"cannot set up {target.describe()}: another process has been setting up "
                f"its tables for {SETUP_WAIT_S:g} s"
            )
        await asyncio.sleep(0.1)  # polling a condition: the other process's set-up
    try:
        yield
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
