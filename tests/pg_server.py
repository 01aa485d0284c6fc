"""A throwaway PostgreSQL server on 127.0.0.1 for the persistence tests.

``$WORKFORCE_GRAPH_TEST_POSTGRES`` (a DSN) wins. Otherwise, when PostgreSQL's server
binaries are installed (Debian: ``apt-get install -y postgresql``), a cluster is created
in a temporary directory with ``initdb`` and started with ``pg_ctl`` on a free port,
then stopped and removed at the end. Under root, PostgreSQL refuses to run, so the
cluster runs as the ``postgres`` user (or ``nobody``) through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["POSTGRES_ENV", "PostgresUnavailable", "postgres_dsn"]

POSTGRES_ENV = "WORKFORCE_GRAPH_TEST_POSTGRES"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be found or started; the message says why."""


def _bin_dir() -> Path | None:
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(os.path.realpath(on_path)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> list[str]:
    if os.geteuid() != 0:
        return []
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        return ["runuser", "-u", user, "--"]
    raise PostgresUnavailable(
        "running as root and no 'postgres' or 'nobody' user to run the server"
    )


@contextmanager
def postgres_dsn() -> Iterator[str]:
    """Yield a DSN of a running PostgreSQL server (see module docs).

    Raises:
        PostgresUnavailable: Neither a DSN in the environment nor server binaries.
    """
    dsn = os.environ.get(POSTGRES_ENV)
    if dsn:
        yield dsn
        return
    bin_dir = _bin_dir()
    if bin_dir is None:
        raise PostgresUnavailable(
            f"no PostgreSQL: set {POSTGRES_ENV} to a DSN or install the server "
            "(apt-get install -y postgresql)"
        )
    prefix = _run_as()
    root = Path(tempfile.mkdtemp(prefix="wfg-pg-"))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    if prefix:
        user = prefix[2]
        for path in (root, sockets):
            shutil.chown(path, user=user)
    port = _free_port()

    def run(*args: str) -> None:
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise PostgresUnavailable(f"{Path(args[0]).name} failed: {done.stderr.strip()[-500:]}")

    try:
        run(
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
        )
        run(
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(root / "log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {port} -h 127.0.0.1 -k {sockets} -F -c max_connections=100",
            "start",
        )
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(
                [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
                timeout=60,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
