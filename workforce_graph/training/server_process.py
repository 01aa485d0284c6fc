"""A model server process on 127.0.0.1 that the loop or a benchmark starts and stops.

The process writes to a log file (a pipe left unread would block it), runs in its own
process group (a server whose engine forks, as vLLM's does, is stopped whole), and is
waited for until ``/v1/models`` lists the name it serves, within a bound: a server that
exits or never answers is one clear error naming its log. Whatever was started is
stopped on leaving the ``with`` block.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["ServerProcess", "ServerStartError", "free_port"]


class ServerStartError(RuntimeError):
    """The server exited while starting, or did not serve its model in time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """One server process at a time, at ``base_url`` (``http://127.0.0.1:PORT/v1``).

    Args:
        log: File the server's output goes to.
        what: The server's name in errors (``"llama_cpp.server"``, ``"vLLM"``).
        start_timeout_s: How long a start may take until the model is listed.
    """

    def __init__(self, log: Path, *, what: str, start_timeout_s: float) -> None:
        self.log = log
        self.what = what
        self.start_timeout_s = start_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self.base_url = ""

    def launch(
        self, command: Sequence[str], served_name: str, *, env: Mapping[str, str] | None = None
    ) -> str:
        """Start ``command`` and wait until it serves ``served_name``.

        An argument that is exactly ``"{port}"`` becomes the free port chosen here.

        Returns:
            The base URL.

        Raises:
            ServerStartError: The server exited, or did not list ``served_name`` in time.
        """
        self.stop()
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(port) if part == "{port}" else part for part in command],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                start_new_session=True,
            )
        self._wait(served_name)
        return self.base_url

    def _wait(self, name: str) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise ServerStartError(
                    f"{self.what} exited with {code} while loading {name}; its log is {self.log}"
                )
            if self._lists(name):
                return
            time.sleep(0.2)  # polling a condition: the port is not listening yet
        self.stop()
        raise ServerStartError(
            f"{self.what} did not serve {name} within {self.start_timeout_s:g} s; its log "
            f"is {self.log}"
        )

    def _lists(self, name: str) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=5) as reply:
                listed = json.loads(reply.read() or b"{}")
        except (OSError, ValueError):
            return False
        return any(m.get("id") == name for m in listed.get("data", []))

    def stop(self) -> None:
        """Stop the server and its children (it is never left running)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
        os.killpg(process.pid, sig)
