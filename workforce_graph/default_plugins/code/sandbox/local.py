"""The local sandbox: untrusted Python in a separate, limited, killable process.

Each run gets a fresh temporary working directory (deleted afterwards), a minimal
environment (none of the parent's variables beyond a short allowlist, so no API keys),
rlimits on CPU time, address space, file size, open files and processes, a wall-clock
timeout that SIGKILLs the whole process group, and output read through bounded
buffers. On Linux it adds what the kernel allows: a network namespace with no
interfaces up, a read-only view of every mount but the working directory, a PID
namespace (so every process the code starts dies with it), and, when the parent is
root, an unprivileged uid. :meth:`LocalSandbox.capabilities` says which of these this
machine granted; ``docs/sandbox.md`` has the full table.

Python code is never ``exec``'d in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from workforce_graph.default_plugins.code.sandbox.base import (
    BoundedBuffer,
    ExecutionResult,
    SandboxError,
    SandboxLimits,
)
from workforce_graph.default_plugins.code.sandbox.capabilities import SandboxCapabilities
from workforce_graph.default_plugins.code.sandbox.child import (
    interpreter_paths,
    killed_reason,
    list_files,
    minimal_env,
    parse_status,
    private_dirs,
)

__all__ = ["NOBODY_UID", "LocalSandbox", "SandboxCapabilities"]

NOBODY_UID = 65534
"""The uid (and gid) code runs as when the parent is root, unless configured otherwise."""

_LAUNCHER = Path(__file__).with_name("_launcher.py")

_GRACE_S = 1.0


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


class LocalSandbox:
    """Runs Python in a separate process under OS limits.

    Args:
        limits: Bounds per run; ``SandboxLimits.from_env()`` when omitted.
        python: Interpreter for the code; this process's interpreter by default, so
            the code sees the same installed packages.
        run_as: Uid (and gid) for the code when this process is root; ``None`` keeps
            root (then the process-count limit is not enforced). Defaults to
            ``WORKFORCE_GRAPH_SANDBOX_UID`` or 65534 (``nobody``).
        allow_network: Skip the network namespace.
        workdir_base: Where the per-run temporary directories are created.
        use_namespaces: Try Linux namespaces (network, mount, PID, user). Turning
            this off leaves only the rlimits, the timeout and the uid change.

    Example:
        >>> sb = LocalSandbox(limits=SandboxLimits(timeout_s=10))
        >>> sb.run("print(6 * 7)").stdout
        '42\\n'
    """

    name = "local"

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        *,
        python: str | None = None,
        run_as: int | str | None = "default",
        allow_network: bool = False,
        workdir_base: str | None = None,
        use_namespaces: bool = True,
    ) -> None:
        if os.name != "posix":
            raise SandboxError(
                "the local code sandbox needs Linux or macOS; set E2B_API_KEY to run code in E2B"
            )
        self.limits = limits if limits is not None else SandboxLimits.from_env()
        self.python = python or sys.executable
        if run_as == "default":
            raw = os.environ.get("WORKFORCE_GRAPH_SANDBOX_UID", "").strip()
            try:
                run_as = int(raw) if raw else NOBODY_UID
            except ValueError:
                raise ValueError(f"WORKFORCE_GRAPH_SANDBOX_UID={raw!r} is not a uid") from None
        self.run_as: int | None = run_as if isinstance(run_as, int) else None
        self.allow_network = allow_network
        self.workdir_base = workdir_base
        self.use_namespaces = use_namespaces
        self._capabilities: SandboxCapabilities | None = None

    def capabilities(self) -> SandboxCapabilities:
        """Probe (once per instance) which protections this machine grants.

        Returns:
            What the kernel allowed, measured by starting an empty sandboxed run.

        Raises:
            SandboxError: The sandbox cannot start here at all.

        Example:
            >>> LocalSandbox().capabilities().rlimits[:2]
            ('core', 'cpu')
        """
        if self._capabilities is None:
            self._run("pass", self.limits.timeout_s, None)
        assert self._capabilities is not None
        return self._capabilities

    def run(self, code: str, *, timeout_s: float | None = None) -> ExecutionResult:
        """Run ``code`` as ``main.py`` in a fresh directory and return what it did.

        Args:
            code: A complete Python program; its printed output is the result.
            timeout_s: Wall-clock limit for this run (defaults to ``limits.timeout_s``).

        Returns:
            The bounded output, exit code, and why the sandbox killed it if it did.

        Raises:
            SandboxError: The sandbox could not start the interpreter.

        Example:
            >>> LocalSandbox().run("import sys; sys.exit(3)").exit_code
            3
        """
        return self._run(code, timeout_s or self.limits.timeout_s, None)

    async def arun(self, code: str, *, timeout_s: float | None = None) -> ExecutionResult:
        """:meth:`run` in a worker thread; cancelling the task kills the process tree.

        Example:
            >>> import asyncio
            >>> asyncio.run(LocalSandbox().arun("print('hi')")).stdout
            'hi\\n'
        """
        cancel = threading.Event()
        task = asyncio.ensure_future(
            asyncio.to_thread(self._run, code, timeout_s or self.limits.timeout_s, cancel)
        )
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            cancel.set()
            # Wait for the kill and the clean-up so no process outlives the cancelled call.
            await asyncio.wait([task])
            raise

    # -- internals ---------------------------------------------------------------------

    def _config(self, workdir: str, status_fd: int) -> dict[str, Any]:
        lim = self.limits
        return {
            "workdir": workdir,
            "python": self.python,
            "uid": self.run_as,
            "gid": self.run_as,
            "network": self.allow_network,
            "namespaces": self.use_namespaces,
            "status_fd": status_fd,
            "expose": interpreter_paths(self.python),
            "hide": private_dirs(),
            "env": minimal_env(workdir),
            "limits": {
                "cpu_s": lim.cpu_s,
                "memory_mb": lim.memory_mb,
                "file_size_mb": lim.file_size_mb,
                "max_processes": lim.max_processes,
            },
        }

    def _make_workdir(self) -> str:
        workdir = os.path.realpath(tempfile.mkdtemp(prefix="wfg-sandbox-", dir=self.workdir_base))
        if os.geteuid() == 0 and self.run_as is not None:
            os.chown(workdir, self.run_as, self.run_as)
        return workdir

    def _run(self, code: str, timeout_s: float, cancel: threading.Event | None) -> ExecutionResult:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be greater than 0")
        workdir = self._make_workdir()
        try:
            main = Path(workdir, "main.py")
            main.write_text(code, encoding="utf-8")
            if os.geteuid() == 0 and self.run_as is not None:
                os.chown(main, self.run_as, self.run_as)
            return self._supervise(workdir, timeout_s, cancel)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _supervise(
        self, workdir: str, timeout_s: float, cancel: threading.Event | None
    ) -> ExecutionResult:
        status_r, status_w = os.pipe()
        cfg = self._config(workdir, status_w)
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(_LAUNCHER), json.dumps(cfg)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=cfg["env"],
                cwd=workdir,
                start_new_session=True,
                pass_fds=(status_w,),
            )
        except OSError as e:
            os.close(status_r)
            os.close(status_w)
            raise SandboxError(f"local sandbox could not start: {e}") from e
        os.close(status_w)
        assert proc.stdout is not None and proc.stderr is not None
        out = BoundedBuffer(self.limits.max_output_bytes)
        err = BoundedBuffer(self.limits.max_output_bytes)
        status = bytearray()
        timed_out = cancelled = False
        sel = selectors.DefaultSelector()
        sinks: dict[int, Any] = {
            proc.stdout.fileno(): out.write,
            proc.stderr.fileno(): err.write,
            status_r: status.extend,
        }
        for fd in sinks:
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
        deadline = start + timeout_s
        exited_at: float | None = None
        try:
            while sinks:
                now = time.monotonic()
                if exited_at is None and proc.poll() is not None:
                    exited_at = now
                    # Anything the code left running in the background goes with it.
                    _kill_group(proc.pid)
                if exited_at is not None and now - exited_at > _GRACE_S:
                    break  # an escaped process still holds the pipes; stop reading
                if exited_at is None and (now >= deadline or (cancel and cancel.is_set())):
                    timed_out = now >= deadline
                    cancelled = not timed_out
                    _kill_group(proc.pid)
                    proc.wait()
                    exited_at = time.monotonic()
                for key, _ in sel.select(timeout=0.05):
                    fd = int(key.fd)
                    try:
                        chunk = os.read(fd, 65536)
                    except BlockingIOError:
                        continue
                    if chunk:
                        sinks[fd](chunk)
                    else:
                        sel.unregister(fd)
                        del sinks[fd]
            proc.wait()
        finally:
            _kill_group(proc.pid)
            sel.close()
            proc.stdout.close()
            proc.stderr.close()
            os.close(status_r)
        duration = time.monotonic() - start
        events = parse_status(bytes(status))
        setup = events.get("setup")
        if setup is None or "exec_failed" in events:
            if timed_out or cancelled:
                # Killed before the set-up finished: report it as the timeout it is.
                setup = {}
            else:
                why = events.get("exec_failed") or events.get("setup_failed") or {}
                detail = why.get("error") or err.text().strip()[-500:] or "no output"
                if "Permission denied" in detail and self.run_as is not None:
                    detail += (
                        f" (uid {self.run_as} cannot reach {self.python}: install Python where "
                        "other users can read it, pass python=..., or set "
                        "WORKFORCE_GRAPH_SANDBOX_UID to a uid that can)"
                    )
                raise SandboxError(f"local sandbox could not start the interpreter: {detail}")
        if setup:
            self._capabilities = SandboxCapabilities.from_report(setup)
        exit_info = events.get("exit", {})
        exit_code: int | None = None if (timed_out or cancelled) else exit_info.get("exit_code")
        killed = killed_reason(
            timed_out,
            cancelled,
            exit_code,
            float(exit_info.get("cpu_s", 0.0)),
            self.limits,
            err.text(),
        )
        return ExecutionResult(
            stdout=out.text(),
            stderr=err.text(),
            exit_code=exit_code,
            timed_out=timed_out,
            killed_reason=killed,
            duration_s=duration,
            files=list_files(workdir),
            stdout_truncated=out.truncated,
            stderr_truncated=err.truncated,
            backend="local",
        )
