"""What the MCP worker tests share: the test server's command, whether a process it
started still runs, and waiting for a port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = [
    "DEADLINE_S",
    "SERVER",
    "alive",
    "assert_none_running",
    "free_port",
    "started_pids",
    "stdio_server",
    "wait_for_port",
]

ROOT = Path(__file__).resolve().parents[1]
SERVER = str(ROOT / "tests" / "mcp_server.py")
DEADLINE_S = 60


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    stat = Path(f"/proc/{pid}/stat")
    if stat.parent.parent.exists() and Path("/proc/self").exists():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (FileNotFoundError, ProcessLookupError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def started_pids(pid_dir: Path) -> list[int]:
    return [int(p.stem) for p in pid_dir.glob("*.pid")]


def assert_none_running(pid_dir: Path) -> None:
    pids = started_pids(pid_dir)
    assert pids, "the MCP server never started"
    assert [pid for pid in pids if alive(pid)] == []


def stdio_server(pid_dir: Path, *extra: str, **keys: Any) -> dict[str, Any]:
    return {
        "command": sys.executable,
        "args": [SERVER, *extra],
        "env": {"MCP_TEST_PID_DIR": str(pid_dir)},
        **keys,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            pass
        # Not listening yet: wait a moment on the process, which also sees it exit.
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.05)
            raise AssertionError("the HTTP MCP server exited before listening")
    raise AssertionError(f"the HTTP MCP server did not listen on {port} in {DEADLINE_S} s")
