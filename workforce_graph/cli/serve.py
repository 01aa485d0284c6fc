"""``workforce-graph serve mcp``: the workforce as an MCP server, over stdio or HTTP.

The command checks what it can before it serves (the model options, ``--db``, the
port), each failure one line and exit 2. Once serving, it stops when the client closes
standard input (stdio, exit 0) or on Ctrl-C or SIGTERM (130, 143); either way every run
still going on is cancelled first and recorded as interrupted, resumable with
``workforce-graph resume THREAD``. The process then exits at once, as ``run`` does after
a signal: a local-model completion in a thread cannot be cancelled and its result is
no longer wanted.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import traceback
from enum import StrEnum
from typing import Annotated, Any

import typer

from workforce_graph.cli.errors import EXIT_ANSWERED, EXIT_INCOMPLETE, CliError, explain
from workforce_graph.cli.interrupt import STOP_SIGNALS
from workforce_graph.cli.mcp import McpFile, checked_mcp_config, mcp_path, started_mcp_workers
from workforce_graph.cli.options import (
    PROG,
    BaseUrl,
    Db,
    Debug,
    Model,
    guard,
    print_error,
    with_role_model_options,
    with_setting_options,
)
from workforce_graph.cli.run_options import RunOptions

__all__ = ["DEFAULT_PORT", "SERVE_EXIT_CODES", "Transport", "bind", "serve_app"]

DEFAULT_PORT = 8766
"""``--port`` unless given (8000 is where model servers such as vLLM usually listen)."""

SERVE_EXIT_CODES = (
    "Exit codes: 0 the client closed the session (stdio); 2 configuration error (bad "
    "option, unknown model, missing API key, unusable --db, port in use or host that "
    "cannot be listened on); 130 stopped by Ctrl-C, 143 by SIGTERM (runs going on are "
    "interrupted: resume with 'workforce-graph resume THREAD'); 1 unexpected error."
)

serve_app = typer.Typer(
    help="Serve the workforce to other programs.",
    epilog=SERVE_EXIT_CODES,
    no_args_is_help=True,
)


@serve_app.callback()
def _serve_group() -> None:
    """Serve the workforce to other programs (an MCP client)."""


class Transport(StrEnum):
    """How MCP clients reach the server."""

    stdio = "stdio"
    http = "http"


def bind(host: str, port: int) -> socket.socket:
    """A socket listening on ``host``:``port`` (0: a free port), before anything serves,
    so a port in use is one line rather than the web server's log.

    Raises:
        CliError: The port is in use, or the host cannot be listened on.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CliError(f"--host {host}: cannot listen there ({exc.strerror})") from exc
    family, _, _, _, address = infos[0]
    try:
        return socket.create_server(address, family=family, backlog=128)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise CliError(
                f"port {port} on {host} is in use (another server?); choose another with --port"
            ) from exc
        if exc.errno == errno.EACCES:
            raise CliError(
                f"port {port} on {host}: permission denied; use a port above 1023"
            ) from exc
        raise CliError(f"cannot listen on {host} port {port}: {exc.strerror or exc}") from exc


def _say(line: str) -> None:
    sys.stderr.write(f"{PROG}: {line}\n")
    sys.stderr.flush()


def _exit_now(code: int) -> None:
    """Exit without joining threads (see the module's docs), output flushed first."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _report(raised: BaseException, debug: bool) -> int:
    """An error met while serving, in one line as the command's guard says it; the exit
    code."""
    exc = raised
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if debug:
        traceback.print_exception(raised)
    known = explain(exc)
    if known is not None:
        print_error(known.message)
        return known.exit_code
    text = str(exc).strip().splitlines()
    print_error(
        f"{type(exc).__name__}: {text[0] if text else 'unexpected error'}"
        + ("" if debug else " (run again with --debug for the traceback)")
    )
    return EXIT_INCOMPLETE


async def _serve(
    options: RunOptions, db: str | None, sock: socket.socket | None, host: str, debug: bool
) -> int:
    from workforce_graph.mcp_server import (
        HTTP_PATH,
        TOOL_NAME,
        WorkforceRunner,
        build_server,
        serve_http,
        serve_stdio,
    )
    from workforce_graph.persistence import open_run_store

    if not debug:
        # The SDK logs a session's end on stopping (a closed stream) with a traceback;
        # what the user needs to know is said in one line here.
        logging.getLogger("mcp").setLevel(logging.CRITICAL)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        if received:  # asked twice: stop waiting for the runs to record themselves
            _exit_now(128 + received[0])
        received.append(signum)
        stop.set()

    mcp_config = checked_mcp_config(options.mcp)
    serving: WorkforceRunner | None = None  # set once the server serves
    try:
        async with open_run_store(db) as store:
            runner = WorkforceRunner(options, store)
            runner.check_config()
            runner.mcp = await started_mcp_workers(mcp_config)
            server = build_server(runner)
            for signum in STOP_SIGNALS:
                loop.add_signal_handler(signum, on_signal, signum)
            where = f"(runs kept in {store.target.describe()})"
            serving = runner
            if sock is not None:
                port = sock.getsockname()[1]
                url_host = f"[{host}]" if ":" in host else host
                _say(
                    f"serving MCP tool {TOOL_NAME} at http://{url_host}:{port}{HTTP_PATH} "
                    f"{where}; Ctrl-C stops"
                )
                await serve_http(server, runner, sock, host, stop)
            else:
                _say(f"serving MCP tool {TOOL_NAME} on stdio {where}; closing stdin stops")
                await serve_stdio(server, runner, stop)
    except Exception as exc:
        if serving is None:
            raise  # before serving: the command's guard says it in one line
        # While serving: the runs end first, and the process without waiting for threads.
        await serving.cancel_all()
        _exit_now(_report(exc, debug))
    code = 128 + received[0] if received else EXIT_ANSWERED
    if received:
        _say(f"stopped by {signal.Signals(received[0]).name}")
    _exit_now(code)
    return code  # not reached


@serve_app.command("mcp", epilog=SERVE_EXIT_CODES)
@with_setting_options
@with_role_model_options
def mcp(
    transport: Annotated[
        Transport,
        typer.Option(
            help="stdio: a client starts the server and talks on its stdin and stdout (as "
            "desktop clients do). http: streamable HTTP at http://HOST:PORT/mcp, for "
            "clients that connect to a running server.",
        ),
    ] = Transport.stdio,
    host: Annotated[
        str, typer.Option(help="With --transport http: the address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(
            min=0, max=65535, help="With --transport http: the port to listen on (0: any free one)."
        ),
    ] = DEFAULT_PORT,
    model: Model = None,
    base_url: BaseUrl = None,
    db: Db = None,
    mcp_file: McpFile = None,
    debug: Debug = False,
    *,
    role_models: dict[str, str],
    settings: dict[str, Any],
) -> None:
    """Serve the workforce as an MCP server with one tool, run_task.

    run_task runs a request (task, answer format, attachments, topology) and returns the
    answer with its completeness, what failed, the usage and the thread id; progress
    events come as progress notifications, and cancelling the call stops its run. Each
    call is a run kept in the run store (see --db), like 'workforce-graph run'.
    """
    options = RunOptions(
        model=model,
        role_models=role_models,
        base_url=base_url,
        settings=settings,
        mcp=mcp_path(mcp_file),
    )

    def action() -> int:
        sock = bind(host, port) if transport == Transport.http else None
        try:
            return asyncio.run(_serve(options, db, sock, host, debug))
        finally:
            if sock is not None:
                sock.close()

    guard(debug, action, base_url=options.effective_base_url())
