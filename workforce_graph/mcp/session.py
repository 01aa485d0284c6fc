"""One session with one MCP server, and what went wrong with it, in words.

A session is opened for one use and closed after it (see :mod:`workforce_graph.mcp.workers`
for why). Over stdio that means the server process is started for the session and
stopped when it ends, however it ends: the MCP SDK's shutdown closes the server's stdin,
waits two seconds, then terminates its process group; when the session is cancelled
(Ctrl-C, a subtask's timeout), anyio kills the process and waits for it. A stdio
server's stderr is kept in a temporary file, never shown, so its last line can say why
it failed. Over streamable HTTP the session is deleted on the server as it ends.

Every failure becomes :class:`McpServerError`, whose message says what happened (the
command was not found, the server exited during start-up with its last stderr line,
it did not answer within so many seconds, nothing listens at the URL, it closed the
connection mid-call), never an SDK's exception group.
"""

from __future__ import annotations

import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import IO, TextIO, cast
from urllib.parse import urlsplit

import anyio
import httpx
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError
from mcp.types import CONNECTION_CLOSED, InitializeResult

from workforce_graph.mcp.config import (
    HttpServer,
    McpConfigError,
    McpServer,
    StdioServer,
    expanded_env,
    expanded_headers,
)

__all__ = ["McpServerError", "Opened", "describe", "open_session", "root_cause", "unreachable"]

SESSION_TERMINATED = "Session terminated"
"""What the MCP SDK's streamable-HTTP client reports for an HTTP 404."""
STDERR_TAIL_CHARS = 300
"""How much of a server's last stderr line a reason quotes."""


class McpServerError(Exception):
    """An MCP server that could not start, answer or finish a call; ``reason`` says
    why in words (the server's name included)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Opened:
    """An open session: the client session and the server's ``initialize`` answer."""

    def __init__(self, session: ClientSession, info: InitializeResult, stderr: IO[str] | None):
        self.session = session
        self.info = info
        self._stderr = stderr

    def stderr_tail(self) -> str:
        return _last_line(self._stderr)


def root_cause(exc: BaseException) -> BaseException:
    """The first exception inside (nested) exception groups: the SDK's task groups wrap
    a server's failure in two of them."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _last_line(stderr: IO[str] | None) -> str:
    if stderr is None:
        return ""
    try:
        stderr.flush()
        stderr.seek(0)
        lines = [line.strip() for line in stderr.read().splitlines() if line.strip()]
    except (OSError, ValueError):
        return ""
    return lines[-1][:STDERR_TAIL_CHARS] if lines else ""


def unreachable(url: str) -> str | None:
    """Why nothing answers at ``url`` (a TCP connection fails), or ``None`` if it does."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        with socket.create_connection((parts.hostname or "", port), timeout=3):
            return None
    except ValueError:
        return "the URL has an invalid port"
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def describe(server: McpServer, exc: BaseException, *, doing: str, stderr: str = "") -> str:
    """What ``exc``, met while ``doing`` something with ``server``, means, in one line."""
    exc = root_cause(exc)
    name = f"MCP server {server.name!r}"
    said = f" (last line on its stderr: {stderr})" if stderr else ""
    if isinstance(exc, McpServerError):
        return exc.reason
    if isinstance(exc, McpConfigError):
        return str(exc)
    if isinstance(exc, FileNotFoundError) and isinstance(server, StdioServer):
        return f"{name} cannot start: command {server.command!r} not found"
    if isinstance(exc, PermissionError) and isinstance(server, StdioServer):
        return f"{name} cannot start: command {server.command!r} is not executable"
    if isinstance(exc, McpError) and exc.error.code == CONNECTION_CLOSED:
        if isinstance(server, StdioServer):
            return f"{name} exited {doing}{said}"
        return f"{name} at {server.url} closed the connection {doing}"
    http = isinstance(server, HttpServer)
    if isinstance(exc, McpError) and http and exc.error.message == SESSION_TERMINATED:
        # The SDK's word for an HTTP 404 (an ended session, or no MCP endpoint there).
        return f"{name} at {server.where()} answered HTTP 404 {doing} (check the URL's path)"
    if isinstance(exc, McpError):
        return f"{name} answered with an error {doing}: {exc.error.message}"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"{name} at {exc.request.url} answered HTTP {exc.response.status_code} {doing}" + (
            " (check the URL's path)" if exc.response.status_code == 404 else ""
        )
    if isinstance(exc, httpx.TransportError) and isinstance(server, HttpServer):
        return f"cannot reach {name} at {server.url} ({type(exc).__name__}: {exc})"
    text = str(exc).strip().splitlines()
    return f"{name} failed {doing}: {type(exc).__name__}" + (f": {text[0]}" if text else "")


@asynccontextmanager
async def _stdio(server: StdioServer, stderr: IO[str]) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=server.command, args=server.args, env=expanded_env(server), cwd=server.cwd
    )
    async with (
        stdio_client(params, errlog=cast(TextIO, stderr)) as (read, write),
        ClientSession(read, write) as session,
    ):
        yield session


@asynccontextmanager
async def _http(server: HttpServer) -> AsyncIterator[ClientSession]:
    timeout = httpx.Timeout(server.startup_timeout_s, read=server.timeout_s)
    async with (
        httpx.AsyncClient(headers=expanded_headers(server), timeout=timeout) as client,
        streamable_http_client(server.url, http_client=client) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        yield session


@asynccontextmanager
async def open_session(server: McpServer) -> AsyncIterator[Opened]:
    """Start (stdio) or reach (HTTP) ``server`` and initialise a session with it.

    Raises:
        McpServerError: It could not start or be reached, or did not finish
            ``initialize`` within ``startup_timeout_s`` (the message says which).
        McpConfigError: A ``${VAR}`` in its ``env`` or ``headers`` is not set.
    """
    if isinstance(server, HttpServer) and (why := unreachable(server.url)):
        raise McpServerError(f"cannot reach MCP server {server.name!r} at {server.url}: {why}")
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as stderr:
        started = False
        try:
            async with (
                _stdio(server, stderr) if isinstance(server, StdioServer) else _http(server)
            ) as session:
                try:
                    with anyio.fail_after(server.startup_timeout_s):
                        info = await session.initialize()
                except TimeoutError:
                    raise McpServerError(
                        f"MCP server {server.name!r} did not start within "
                        f"{server.startup_timeout_s:g} s ({server.where()})"
                    ) from None
                started = True
                yield Opened(session, info, stderr)
        except Exception as exc:
            cause = root_cause(exc)
            if started or isinstance(cause, McpServerError):
                raise cause from None
            reason = describe(server, cause, doing="during start-up", stderr=_last_line(stderr))
            raise McpServerError(reason) from None
