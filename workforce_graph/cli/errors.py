"""Exit codes, and the one-line messages for every error a user can cause."""

from __future__ import annotations

import socket
import sqlite3
from urllib.parse import urlsplit

from workforce_graph.models import ModelConfigError
from workforce_graph.persistence import PersistenceError

__all__ = [
    "EXIT_ANSWERED",
    "EXIT_CLOSED_PIPE",
    "EXIT_CODES_HELP",
    "EXIT_INCOMPLETE",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "CliError",
    "check_reachable",
    "explain",
    "output_closed",
]

EXIT_ANSWERED = 0
EXIT_INCOMPLETE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_CLOSED_PIPE = 141
"""The reader of the output went away (``... | head``), as a process killed by SIGPIPE."""

EXIT_CODES_HELP = (
    "Exit codes: 0 answered (a plan-fallback answer too, and it says so); 1 answered but "
    "incomplete (a subtask failed, or no valid plan with --no-plan-fallback), "
    "or an unexpected error; 2 usage or configuration error (bad option, unknown model, "
    "missing API key, unreachable model server or one failing call after call with 429 "
    "or 5xx, unreadable file, unusable --db); "
    "130 interrupted (Ctrl-C, or no reply to a plan review), 143 stopped by SIGTERM: "
    "resume with "
    "'workforce-graph resume THREAD'; 141 the output's reader went away (a closed pipe)."
)


class CliError(Exception):
    """An error shown as one line on stderr, ending the command with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def explain(exc: BaseException, *, base_url: str | None = None) -> CliError | None:
    """The one-line error for an exception a user can cause, or ``None`` for a bug.

    Args:
        exc: Raised while setting up or running a command.
        base_url: The model server in use, named in connection errors.

    Returns:
        A :class:`CliError` (exit code 2) for configuration problems, else ``None``.

    Example:
        >>> explain(ModelConfigError("model 'x' needs an API key")).message
        "model 'x' needs an API key"
    """
    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, ModelConfigError | PersistenceError):
        return CliError(_first_line(exc))
    if isinstance(exc, LookupError) and not isinstance(exc, KeyError | IndexError):
        return CliError(_first_line(exc))
    if isinstance(exc, sqlite3.DatabaseError):
        # A damaged or foreign file met after opening (aiosqlite raises sqlite3's errors).
        return CliError(
            f"the run database cannot be used: {_first_line(exc)} (check --db; move a "
            "damaged file away to start a new one)"
        )
    try:
        import openai
    except ImportError:  # pragma: no cover - a core dependency
        return None
    where = f" at {base_url}" if base_url else ""
    if isinstance(exc, openai.APITimeoutError):
        return CliError(f"the model server{where} did not answer in time; check that it is running")
    if isinstance(exc, openai.APIConnectionError):
        return CliError(
            f"cannot reach the model server{where}: {_first_line(exc)}"
            + (" (check --base-url)" if base_url else "")
        )
    if isinstance(exc, openai.AuthenticationError):
        return CliError(f"the model server{where} rejected the API key: {_first_line(exc)}")
    if isinstance(exc, openai.PermissionDeniedError):
        return CliError(f"the model server{where} refused the request: {_first_line(exc)}")
    if isinstance(exc, openai.NotFoundError):
        return CliError(
            f"the model server{where} answered 404 (check --model and --base-url): "
            f"{_first_line(exc)}"
        )
    if isinstance(exc, openai.RateLimitError):
        return CliError(f"the model provider's rate limit or quota was hit: {_first_line(exc)}")
    if isinstance(exc, openai.APIStatusError):
        return CliError(
            f"the model server{where} returned HTTP {exc.status_code}: {_first_line(exc)}"
        )
    return None


def check_reachable(base_url: str, *, timeout_s: float = 3.0) -> None:
    """Fail fast, in one line, when nothing listens at an OpenAI-compatible base URL.

    A TCP connection is enough: it catches a wrong host or port or a stopped server in
    milliseconds, where the model client would retry with back-off first.

    Args:
        base_url: e.g. ``http://127.0.0.1:8000/v1``.
        timeout_s: Connection timeout.

    Raises:
        CliError: The URL is malformed or the server cannot be reached.

    Example:
        >>> check_reachable("http://127.0.0.1:9/v1")  # doctest: +SKIP
        Traceback (most recent call last):
        CliError: cannot reach the model server at http://127.0.0.1:9/v1: ...
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(
            f"--base-url must be an http(s) URL such as http://127.0.0.1:8000/v1, got {base_url!r}"
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise CliError(f"--base-url has an invalid port: {base_url!r}") from exc
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or _first_line(exc)
        if isinstance(exc, TimeoutError | socket.timeout):
            reason = f"no answer within {timeout_s:g} s"
        raise CliError(
            f"cannot reach the model server at {base_url}: {reason} (check --base-url and that "
            "the server is running)"
        ) from exc


def output_closed() -> int:
    """Stop writing to a standard output whose reader went away; the exit code.

    What is still buffered for it would fail again when the interpreter flushes it at
    exit (``Exception ignored ... BrokenPipeError``): the output now goes nowhere.
    """
    import os
    import sys

    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (a captured stream)
        pass
    finally:
        os.close(devnull)
    return EXIT_CLOSED_PIPE
