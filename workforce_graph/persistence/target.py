"""Where runs are stored: the ``--db`` value, its parsing and the default location.

One ``--db`` value names both the checkpointer and the run index. By default runs go
to an embedded SQLite file in the per-user data directory (``$WORKFORCE_GRAPH_DB``
overrides it); ``postgresql://...`` uses PostgreSQL (the ``postgres`` extra);
``memory`` keeps nothing after the process ends.

Example:
    >>> parse_db("memory").kind
    'memory'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "APP_NAME",
    "DB_ENV",
    "MEMORY",
    "DbTarget",
    "PersistenceError",
    "default_db_path",
    "parse_db",
]

DB_ENV = "WORKFORCE_GRAPH_DB"
MEMORY = "memory"
APP_NAME = "workforce-graph"


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
