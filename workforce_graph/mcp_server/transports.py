"""Serving the MCP server over stdio or streamable HTTP until the client or a signal ends it.

Both end the same way: every run still going on is cancelled and records itself as
interrupted (resumable with ``workforce-graph resume THREAD``) before the function
returns. Over stdio the client ends the session by closing standard input; over HTTP
a session ends when its client closes it (the SDK's client sends ``DELETE``) or after
``SESSION_IDLE_TIMEOUT_S`` without a request, and its calls' runs end with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import Iterator
from io import TextIOWrapper
from typing import Any

import anyio
import uvicorn
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from workforce_graph.mcp_server.runner import WorkforceRunner

__all__ = [
    "HTTP_PATH",
    "LOOPBACK_HOSTS",
    "SESSION_IDLE_TIMEOUT_S",
    "protocol_stdout",
    "serve_http",
    "serve_stdio",
]

HTTP_PATH = "/mcp"
"""Where the streamable HTTP endpoint is: ``http://HOST:PORT/mcp``."""
SESSION_IDLE_TIMEOUT_S = 30 * 60.0
"""An HTTP session with no request for this long is closed (a client that vanished)."""
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_GRACE_S = 5.0
"""How long the HTTP server waits for open responses once every run was cancelled."""


def protocol_stdout() -> TextIOWrapper:
    """Standard output for the protocol alone: the returned stream writes to the
    original stdout, and file descriptor 1 (``print``, a library's C code) goes to
    stderr from now on, so a stray line cannot corrupt a JSON-RPC message."""
    sys.stdout.flush()
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return TextIOWrapper(protocol, encoding="utf-8", write_through=True)


async def serve_stdio(
    server: Server[Any, Any], runner: WorkforceRunner, stop: asyncio.Event
) -> bool:
    """Serve one client on stdin and stdout until it closes stdin or ``stop`` is set.

    Returns:
        ``True`` when the client closed the session, ``False`` when ``stop`` ended it.
        On ``stop`` the runs are cancelled but the stdin reader is left behind (a read
        cannot be interrupted); the caller exits the process.
    """
    stdin = anyio.wrap_file(TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace"))
    stdout = anyio.wrap_file(protocol_stdout())

    async def session() -> None:
        async with stdio_server(stdin, stdout) as (read, write):
            await server.run(read, write, server.create_initialization_options())

    serving = asyncio.create_task(session())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    await runner.cancel_all()  # the session's end cancelled its calls' runs already
    if serving.done():
        serving.result()  # an error of the transport, raised here
        return True
    return False


class _SessionsApp:
    """The session manager as an ASGI app, the endpoint of :data:`HTTP_PATH`, counting
    the POST requests being answered (a tool call's reply comes on its POST)."""

    def __init__(self, manager: StreamableHTTPSessionManager) -> None:
        self.manager = manager
        self.closing = False
        """Set once the server stops: new requests are refused (503)."""
        self._posts = 0
        self.answered = asyncio.Event()
        """Set while no POST request is being answered."""
        self.answered.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.closing:
            # After the sessions ended the manager cannot take requests; say why.
            response = PlainTextResponse("the server is stopping", status_code=503)
            await response(scope, receive, send)
            return
        if scope.get("method") != "POST":
            await self.manager.handle_request(scope, receive, send)
            return
        self._posts += 1
        self.answered.clear()
        try:
            await self.manager.handle_request(scope, receive, send)
        finally:
            self._posts -= 1
            if not self._posts:
                self.answered.set()


class _Uvicorn(uvicorn.Server):
    """uvicorn without its signal handlers: the command handles SIGINT and SIGTERM
    (uvicorn would raise the signal again once stopped, ending with no exit code)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _security(host: str) -> TransportSecuritySettings | None:
    # As FastMCP does: a server on loopback only answers requests addressed to
    # loopback, so a web page cannot reach it through DNS rebinding.
    if host not in LOOPBACK_HOSTS:
        return None
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )


async def serve_http(
    server: Server[Any, Any],
    runner: WorkforceRunner,
    sock: socket.socket,
    host: str,
    stop: asyncio.Event,
) -> None:
    """Serve streamable HTTP on ``sock`` (bound and listening) until ``stop`` is set.

    Each client gets a session of its own; many clients and calls may run at once.
    """
    manager = StreamableHTTPSessionManager(
        app=server,
        security_settings=_security(host),
        session_idle_timeout=SESSION_IDLE_TIMEOUT_S,
    )
    sessions = _SessionsApp(manager)
    app = Starlette(routes=[Route(HTTP_PATH, endpoint=sessions)])
    web = _Uvicorn(
        uvicorn.Config(
            app,
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=int(_GRACE_S),
        )
    )
    async with manager.run():
        serving = asyncio.create_task(web.serve(sockets=[sock]))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        sessions.closing = True
        await runner.cancel_all()
        # The cancelled calls' replies ("the server stopped ...") go out on their POST
        # requests before the sessions end; a client would wait for them forever.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_GRACE_S):
                await sessions.answered.wait()
        # Leaving the manager ends every session, so open streams close.
    web.should_exit = True
    await serving
