"""What the sandbox's child process is given (environment, visible trees) and how its
end is read back (files left, status events, why it was killed)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import sysconfig
from typing import Any

from workforce_graph.default_plugins.code.sandbox.base import SandboxLimits

__all__ = [
    "interpreter_paths",
    "killed_reason",
    "list_files",
    "minimal_env",
    "parse_status",
    "private_dirs",
]

_ENV_ALLOWLIST = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
_SANE_PATH = "/usr/local/bin:/usr/bin:/bin"
_MAX_FILES_LISTED = 50


def minimal_env(workdir: str) -> dict[str, str]:
    env = {k: os.environ[k] for k in _ENV_ALLOWLIST if k in os.environ}
    env.setdefault("PATH", _SANE_PATH)
    env.setdefault("LANG", "C.UTF-8")
    env.update(
        HOME=workdir,
        TMPDIR=workdir,
        PYTHONUNBUFFERED="1",
        MPLBACKEND="Agg",
        # One thread per numeric library: the address-space limit is per process and
        # thread pools reserve memory per thread.
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    return env


def interpreter_paths(python: str) -> list[str]:
    """Trees the interpreter needs to start: the binary, its prefix, its site-packages."""
    paths = {os.path.realpath(python), sys.base_prefix, sys.prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        p = sysconfig.get_paths().get(key)
        if p:
            paths.add(p)
    return sorted({os.path.realpath(p) for p in paths if os.path.exists(p)})


def private_dirs() -> list[str]:
    """Home directories to hide from the code: where keys and tokens usually live."""
    homes = {os.path.expanduser("~"), "/root"}
    with contextlib.suppress(ImportError, KeyError):
        import pwd

        homes.add(pwd.getpwuid(os.getuid()).pw_dir)
    return sorted(h for h in homes if h and h != "/")


def list_files(workdir: str) -> tuple[str, ...]:
    found: list[str] = []
    for root, dirs, files in os.walk(workdir):
        dirs.sort()
        for name in sorted(files):
            rel = os.path.relpath(os.path.join(root, name), workdir)
            if rel != "main.py":
                found.append(rel)
            if len(found) >= _MAX_FILES_LISTED:
                return tuple(found)
    return tuple(found)


def parse_status(raw: bytes) -> dict[str, dict[str, Any]]:
    events: dict[str, dict[str, Any]] = {}
    for line in raw.decode("utf-8", errors="replace").splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("event"), str):
            events[obj["event"]] = obj
    return events


def killed_reason(
    timed_out: bool,
    cancelled: bool,
    exit_code: int | None,
    cpu_s: float,
    limits: SandboxLimits,
    stderr: str,
) -> str | None:
    if timed_out:
        return "wall-clock timeout"
    if cancelled:
        return "cancelled"
    if exit_code is None:
        return "sandbox process ended without a status"
    if exit_code == -signal.SIGXCPU or (
        exit_code == -signal.SIGKILL and cpu_s >= max(1, round(limits.cpu_s)) - 0.05
    ):
        return "CPU time limit"
    if exit_code == -signal.SIGXFSZ:
        return "file size limit"
    if exit_code != 0 and "MemoryError" in stderr[-2000:]:
        return "memory limit"
    if exit_code == -signal.SIGKILL:
        return "killed (SIGKILL), most likely out of memory"
    return None
