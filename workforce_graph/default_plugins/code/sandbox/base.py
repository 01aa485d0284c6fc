"""What every code sandbox shares: the result type, the limits, the protocol, the errors."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

__all__ = [
    "TRUNCATION_MARKER",
    "BoundedBuffer",
    "ExecutionResult",
    "Sandbox",
    "SandboxError",
    "SandboxLimits",
]

TRUNCATION_MARKER = "\n[... {dropped} bytes truncated ...]\n"
"""Inserted where output was cut; ``{dropped}`` is the number of bytes left out."""


class SandboxError(RuntimeError):
    """The sandbox itself failed (could not start, E2B unreachable, bad credentials).

    This is an infrastructure failure, distinct from the code failing or being killed
    for exceeding a limit: those come back as an :class:`ExecutionResult`.
    """


@dataclass(frozen=True)
class ExecutionResult:
    """What running a piece of code produced.

    Attributes:
        stdout: Standard output, decoded as UTF-8 and cut to the output bound.
        stderr: Standard error, likewise bounded.
        exit_code: The interpreter's exit status; negative for a signal (-9 is
            SIGKILL); ``None`` when it never finished (wall-clock timeout).
        timed_out: The wall-clock timeout ended the run.
        killed_reason: Why the sandbox stopped the code, e.g. ``"wall-clock timeout"``,
            ``"CPU time limit"``, ``"memory limit"``; ``None`` when it ran to its end.
        duration_s: Wall-clock seconds from start to end.
        files: Files the code left in its working directory (relative paths).
        stdout_truncated: Standard output exceeded the bound.
        stderr_truncated: Standard error exceeded the bound.
        backend: ``"local"`` or ``"e2b"``.
    """

    stdout: str
    stderr: str
    exit_code: int | None
    timed_out: bool = False
    killed_reason: str | None = None
    duration_s: float = 0.0
    files: tuple[str, ...] = ()
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    backend: str = "local"

    @property
    def ok(self) -> bool:
        """The code ran to its end and exited with status 0."""
        return self.exit_code == 0 and self.killed_reason is None

    def to_text(self) -> str:
        """A plain-text report for a model: status line, then stdout and stderr.

        Example:
            >>> print(ExecutionResult(stdout="4\\n", stderr="", exit_code=0).to_text())
            exit code: 0
            stdout:
            4
            <BLANKLINE>
        """
        if self.killed_reason:
            head = f"killed by the sandbox: {self.killed_reason}"
            if self.exit_code is not None:
                head += f" (exit code {self.exit_code})"
        else:
            head = f"exit code: {self.exit_code}"
        parts = [head]
        if self.stdout:
            parts.append("stdout:\n" + self.stdout)
        if self.stderr:
            parts.append("stderr:\n" + self.stderr)
        if not self.stdout and not self.stderr:
            parts.append("(no output; print() the result to see it)")
        if self.files:
            parts.append("files written: " + ", ".join(self.files))
        return "\n".join(parts)


def _env_number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise ValueError(f"{name}={raw!r} must be greater than 0")
    return value


@dataclass(frozen=True)
class SandboxLimits:
    """Bounds applied to each run. Defaults suit short analysis scripts.

    Attributes:
        timeout_s: Wall-clock limit; the whole process tree is killed when it passes.
        cpu_s: CPU-time limit of each process (local sandbox only).
        memory_mb: Address-space limit of each process, in MiB (local sandbox only).
        file_size_mb: Largest file a process may write, in MiB (local sandbox only).
        max_processes: Processes the code may start (local sandbox only).
        max_output_bytes: Bytes of stdout, and separately of stderr, kept for the result.

    Example:
        >>> SandboxLimits(timeout_s=5).cpu_s
        10.0
    """

    timeout_s: float = 30.0
    cpu_s: float = 10.0
    memory_mb: int = 1024
    file_size_mb: int = 64
    max_processes: int = 64
    max_output_bytes: int = 16_000

    def __post_init__(self) -> None:
        for name in ("timeout_s", "cpu_s", "memory_mb", "file_size_mb", "max_processes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"sandbox limit {name} must be greater than 0")
        if self.max_output_bytes < 64:
            raise ValueError("sandbox limit max_output_bytes must be at least 64")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SandboxLimits:
        """Defaults overridden by ``WORKFORCE_GRAPH_SANDBOX_*`` environment variables.

        Variables: ``..._TIMEOUT`` (seconds), ``..._CPU_SECONDS``, ``..._MEMORY_MB``,
        ``..._FILE_SIZE_MB``, ``..._MAX_PROCESSES``, ``..._MAX_OUTPUT_BYTES``.

        Args:
            env: Where to read them; ``os.environ`` when omitted.

        Returns:
            The limits.

        Raises:
            ValueError: A variable is set to something that is not a positive number.

        Example:
            >>> SandboxLimits.from_env({"WORKFORCE_GRAPH_SANDBOX_TIMEOUT": "5"}).timeout_s
            5.0
        """
        env = os.environ if env is None else env
        d = cls()
        p = "WORKFORCE_GRAPH_SANDBOX_"
        return replace(
            d,
            timeout_s=_env_number(env, p + "TIMEOUT", d.timeout_s),
            cpu_s=_env_number(env, p + "CPU_SECONDS", d.cpu_s),
            memory_mb=int(_env_number(env, p + "MEMORY_MB", d.memory_mb)),
            file_size_mb=int(_env_number(env, p + "FILE_SIZE_MB", d.file_size_mb)),
            max_processes=int(_env_number(env, p + "MAX_PROCESSES", d.max_processes)),
            max_output_bytes=int(_env_number(env, p + "MAX_OUTPUT_BYTES", d.max_output_bytes)),
        )


@runtime_checkable
class Sandbox(Protocol):
    """Runs Python source in isolation and reports what happened."""

    @property
    def name(self) -> str:
        """Short backend name (``"local"``, ``"e2b"``)."""
        ...

    def run(self, code: str, *, timeout_s: float | None = None) -> ExecutionResult:
        """Run ``code`` as a Python program; ``timeout_s`` overrides the wall-clock limit.

        Raises:
            SandboxError: The sandbox could not run the code at all.
        """
        ...

    async def arun(self, code: str, *, timeout_s: float | None = None) -> ExecutionResult:
        """Like :meth:`run`, without blocking the event loop."""
        ...


@dataclass
class BoundedBuffer:
    """Keeps the first and last bytes of a stream, counting what falls in between.

    Memory stays below ``limit`` bytes however much is written, so a program printing
    gigabytes cannot exhaust the parent. The tail is kept because a traceback, the
    part of stderr that matters, comes last.

    Example:
        >>> b = BoundedBuffer(limit=10)
        >>> b.write(b"0123456789abcdef")
        >>> b.dropped, b.text().startswith("0123456")
        (6, True)
    """

    limit: int
    _head: bytearray = field(default_factory=bytearray)
    _tail: bytearray = field(default_factory=bytearray)
    dropped: int = 0

    @property
    def _head_limit(self) -> int:
        return self.limit - self.limit // 4

    def write(self, data: bytes) -> None:
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if not data:
            return
        tail_limit = self.limit // 4
        self._tail += data
        if len(self._tail) > tail_limit:
            excess = len(self._tail) - tail_limit
            del self._tail[:excess]
            self.dropped += excess

    @property
    def truncated(self) -> bool:
        return self.dropped > 0

    def text(self) -> str:
        head = self._head.decode("utf-8", errors="replace")
        tail = self._tail.decode("utf-8", errors="replace")
        if self.dropped:
            return head + TRUNCATION_MARKER.format(dropped=self.dropped) + tail
        return head + tail
