"""The E2B sandbox: code runs in a remote Firecracker micro-VM (``e2b-code-interpreter``).

The remote sandbox is created on first use and reused; each run gets a fresh Jupyter
context, so variables do not leak from one run to the next (files in the VM do). A
run that hits the timeout resets the VM, because the kernel would otherwise keep
executing it. Failures of E2B itself (bad key, unreachable API, rate limit) raise
:class:`SandboxError` with a message saying what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from typing import Any

from workforce_graph.default_plugins.code.sandbox.base import (
    BoundedBuffer,
    ExecutionResult,
    SandboxError,
    SandboxLimits,
)

__all__ = ["E2BSandbox"]

_SANDBOX_LIFETIME_S = 600


class E2BSandbox:
    """Runs Python in an E2B code-interpreter sandbox.

    Args:
        limits: ``timeout_s`` and ``max_output_bytes`` apply; the VM bounds the rest.
        api_key: E2B key; ``E2B_API_KEY`` when omitted.
        template: E2B template (the SDK's code-interpreter template by default).
        sandbox_lifetime_s: How long E2B keeps an idle VM before reclaiming it.
        connection_opts: Passed to ``e2b_code_interpreter.Sandbox.create``
            (``domain``, ``request_timeout``, ``proxy``, ...).

    Example:
        >>> sb = E2BSandbox(api_key="e2b_...")  # doctest: +SKIP
        >>> sb.run("print(1 + 1)").stdout  # doctest: +SKIP
        '2\\n'
    """

    name = "e2b"

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        *,
        api_key: str | None = None,
        template: str | None = None,
        sandbox_lifetime_s: int = _SANDBOX_LIFETIME_S,
        **connection_opts: Any,
    ) -> None:
        self.limits = limits if limits is not None else SandboxLimits.from_env()
        self._api_key = api_key or os.environ.get("E2B_API_KEY")
        self._template = template
        self._lifetime = sandbox_lifetime_s
        self._opts = connection_opts
        self._sandbox: Any = None
        self._lock = threading.Lock()

    def _sdk(self) -> Any:
        try:
            import e2b_code_interpreter
        except ImportError as e:
            raise SandboxError(
                "E2B_API_KEY is set but e2b-code-interpreter is not installed: "
                "pip install 'workforce-graph[e2b]' (or unset E2B_API_KEY to run code locally)"
            ) from e
        return e2b_code_interpreter

    def _ensure(self) -> Any:
        with self._lock:
            if self._sandbox is None:
                if not self._api_key and not self._opts.get("debug"):
                    raise SandboxError("E2B needs an API key: set E2B_API_KEY")
                sdk = self._sdk()
                try:
                    self._sandbox = sdk.Sandbox.create(
                        template=self._template,
                        timeout=self._lifetime,
                        api_key=self._api_key,
                        **self._opts,
                    )
                except Exception as e:  # every SDK failure becomes one message
                    raise SandboxError(_describe(e, "could not start an E2B sandbox")) from e
            return self._sandbox

    def close(self) -> None:
        """Kill the remote VM, if one was started (idempotent, never raises)."""
        with self._lock:
            sandbox, self._sandbox = self._sandbox, None
        if sandbox is not None:
            # A VM that cannot be killed expires on its own anyway.
            with contextlib.suppress(Exception):
                sandbox.kill()

    def run(self, code: str, *, timeout_s: float | None = None) -> ExecutionResult:
        """Run ``code`` in a fresh context of the (lazily created) E2B sandbox.

        Args:
            code: A complete Python program.
            timeout_s: Wall-clock limit (defaults to ``limits.timeout_s``).

        Returns:
            Bounded stdout/stderr; an uncaught exception gives exit code 1 and its
            traceback on stderr.

        Raises:
            SandboxError: E2B could not be reached or refused the request.

        Example:
            >>> E2BSandbox(api_key="e2b_...").run("print(2)").stdout  # doctest: +SKIP
            '2\\n'
        """
        timeout = timeout_s or self.limits.timeout_s
        sdk = self._sdk()
        sandbox = self._ensure()
        start = time.monotonic()
        try:
            context = sandbox.create_code_context()
            try:
                execution = sandbox.run_code(code, context=context, timeout=timeout)
            finally:
                with contextlib.suppress(Exception):  # the context dies with the VM
                    sandbox.remove_code_context(context)
        except sdk.TimeoutException as e:
            # The kernel may still be running the code: drop the VM so the next run
            # does not queue behind it.
            self.close()
            if "Execution timed out" in str(e):
                return ExecutionResult(
                    stdout="",
                    stderr="",
                    exit_code=None,
                    timed_out=True,
                    killed_reason="wall-clock timeout",
                    duration_s=time.monotonic() - start,
                    backend="e2b",
                )
            raise SandboxError(_describe(e, "the E2B sandbox stopped responding")) from e
        except Exception as e:
            self.close()
            raise SandboxError(_describe(e, "running code in E2B failed")) from e
        return _to_result(execution, self.limits.max_output_bytes, time.monotonic() - start)

    async def arun(self, code: str, *, timeout_s: float | None = None) -> ExecutionResult:
        """:meth:`run` in a worker thread, so the event loop keeps going.

        Example:
            >>> import asyncio
            >>> asyncio.run(E2BSandbox().arun("print(2)")).stdout  # doctest: +SKIP
            '2\\n'
        """
        return await asyncio.to_thread(self.run, code, timeout_s=timeout_s)


def _to_result(execution: Any, limit: int, duration: float) -> ExecutionResult:
    out, err = BoundedBuffer(limit), BoundedBuffer(limit)
    for text in execution.logs.stdout:
        out.write(text.encode("utf-8", errors="replace"))
    for result in execution.results:
        # Jupyter shows the value of a final bare expression; keep it like a print.
        if getattr(result, "text", None):
            out.write((result.text + "\n").encode("utf-8", errors="replace"))
    for text in execution.logs.stderr:
        err.write(text.encode("utf-8", errors="replace"))
    error = execution.error
    if error is not None:
        err.write(f"{error.traceback or ''}\n{error.name}: {error.value}\n".encode())
    return ExecutionResult(
        stdout=out.text(),
        stderr=err.text(),
        exit_code=1 if error is not None else 0,
        duration_s=duration,
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
        backend="e2b",
    )


def _describe(exc: Exception, what: str) -> str:
    name = type(exc).__name__
    text = str(exc).strip() or name
    if name == "AuthenticationException" or "401" in text[:4]:
        return f"{what}: E2B rejected the API key ({text}); check E2B_API_KEY"
    if name == "RateLimitException" or "429" in text[:4]:
        return f"{what}: E2B rate limit reached ({text}); retry later"
    if isinstance(exc, OSError) or name in (
        "ConnectError",
        "ConnectTimeout",
        "SandboxUnreachableException",
    ):
        return f"{what}: E2B is unreachable ({text}); check the network or unset E2B_API_KEY"
    return f"{what}: {name}: {text}"
