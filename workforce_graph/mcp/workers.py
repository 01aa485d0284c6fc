"""MCP servers as workers: each configured server becomes one :class:`WorkerSpec` whose
tools are the server's, as LangChain tools (``langchain-mcp-adapters``).

The worker is an ordinary declaration, so the planner, the coordinator and the worker
runtime treat it as any plugin's worker. Its capabilities and description are the
configuration's, else read from the server: the capabilities are the server's name and
its tools' names, the description the server's ``instructions``.

**Session lifetime: one session per tool call.** Each call starts a stdio server (or
opens a streamable-HTTP session), makes the call and stops it again; loading the workers
starts each server once, to list its tools. So nothing of an MCP server runs between
calls, and nothing is left when a run ends, whether it finished, failed, timed out or
was stopped with Ctrl-C: the call that was running is cancelled and its session closes
(:mod:`workforce_graph.mcp.session`). The price is a server start per call (about
0.4 s for a Python server) and no state kept on the server between calls. The same
holds in every event loop, the synchronous API's included, since no session outlives
the coroutine that opened it.

Failures, in words:

- a server that cannot start, be reached or list its tools when the workers are
  loaded: its worker is listed as unavailable with the reason and never planned for;
  the run goes on with the other workers;
- during a call (a server that exits or drops the connection, an HTTP server that stops
  being reachable, one that does not answer within ``timeout_s``, one that cannot start
  this time): the subtask fails with the reason
  (:class:`~workforce_graph.workers.SubtaskFailed`);
- an error the tool reports itself (an MCP result with ``isError``): back to the model,
  which may correct its arguments.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import anyio
from langchain_core.tools import BaseTool
from langchain_mcp_adapters.interceptors import MCPToolCallRequest
from langchain_mcp_adapters.sessions import Connection
from langchain_mcp_adapters.tools import convert_mcp_tool_to_langchain_tool
from mcp import ClientSession
from mcp.types import CallToolResult, Tool

from workforce_graph.mcp.config import (
    HttpServer,
    McpConfig,
    McpServer,
    McpServersSource,
    load_mcp_config,
)
from workforce_graph.mcp.session import McpServerError, describe, open_session, unreachable
from workforce_graph.workers import SubtaskFailed, WorkerSpec

__all__ = [
    "MCP_PLUGIN",
    "McpWorkers",
    "load_mcp_workers",
    "mcp_worker_specs",
]

MCP_PLUGIN = "mcp"
"""The plugin name MCP workers are listed under."""

DEFAULT_CAPABILITIES = 12
"""Capability tags read from a server's tools at most (its name and its first tools)."""
DESCRIPTION_CHARS = 400
"""A server's ``instructions`` as a default description, cut to this."""
HTTP_WATCH_S = 2.0
"""How often an HTTP server is checked for being reachable during a call."""


@dataclass(frozen=True)
class McpWorkers:
    """Workers made from an MCP configuration, their servers already asked for tools.

    Pass it as ``mcp_servers=`` to a graph factory when the servers were loaded in an
    event loop of yours (:func:`load_mcp_workers`), so the factory does not start them
    again.
    """

    specs: tuple[WorkerSpec, ...]
    source: str


async def _list_tools(session: ClientSession) -> list[Tool]:
    tools: list[Tool] = []
    cursor: str | None = None
    while True:
        page = await session.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.nextCursor
        if not cursor:
            return tools


def _connection(server: McpServer) -> Connection:
    """The server as langchain-mcp-adapters names a connection (it is never opened
    through it: calls go through :class:`_Call`)."""
    if isinstance(server, HttpServer):
        return {"transport": "streamable_http", "url": server.url}
    return {"transport": "stdio", "command": server.command, "args": list(server.args)}


class _Call:
    """The interceptor that makes each tool call, in a session of its own.

    langchain-mcp-adapters would open its own per-call session too, but through its
    stdio path a server's stderr goes to this process's stderr (into the CLI's progress
    lines), and a crash or a timeout comes out as an SDK exception group. Here the
    stderr is kept for the reason, and every failure of the server ends the subtask with
    one line saying what happened.
    """

    def __init__(self, server: McpServer) -> None:
        self.server = server

    async def __call__(self, request: MCPToolCallRequest, handler: Any) -> CallToolResult:
        server = self.server
        doing = f"during the call to {request.name!r}"
        try:
            async with open_session(server) as opened:
                try:
                    with anyio.fail_after(server.timeout_s):
                        return await _call_watched(opened.session, request, server)
                except TimeoutError:
                    gone = isinstance(server, HttpServer) and unreachable(server.url)
                    raise SubtaskFailed(
                        f"MCP server {server.name!r} did not answer the call to "
                        f"{request.name!r} within {server.timeout_s:g} s"
                        + (f" (and is no longer reachable: {gone})" if gone else "")
                    ) from None
                except SubtaskFailed:
                    raise
                except Exception as exc:
                    reason = describe(server, exc, doing=doing, stderr=opened.stderr_tail())
                    raise SubtaskFailed(reason) from None
        except McpServerError as exc:
            raise SubtaskFailed(exc.reason) from None


async def _call_watched(
    session: ClientSession, request: MCPToolCallRequest, server: McpServer
) -> CallToolResult:
    """``call_tool``; over HTTP, ended early when the server stops being reachable.

    The SDK's streamable-HTTP client does not notice a response stream that a dying
    server dropped: without the watch the call would wait for ``timeout_s``.

    Raises:
        SubtaskFailed: The server stopped being reachable during the call.
    """
    if not isinstance(server, HttpServer):
        return await session.call_tool(request.name, request.args)
    result: CallToolResult | None = None
    gone: str | None = None

    async with anyio.create_task_group() as group:

        async def call() -> None:
            nonlocal result
            result = await session.call_tool(request.name, request.args)
            group.cancel_scope.cancel()

        async def watch() -> None:
            nonlocal gone
            gone = await _until_unreachable(server.url)
            group.cancel_scope.cancel()

        group.start_soon(call)
        group.start_soon(watch)
    if result is None:
        raise SubtaskFailed(
            f"MCP server {server.name!r} stopped answering during the call to "
            f"{request.name!r}: {server.url} is no longer reachable ({gone})"
        )
    return result


async def _until_unreachable(url: str) -> str:
    """Why ``url`` stopped answering, once two checks in a row found it so (one refused
    connection of a busy server is not taken for its end)."""
    failed_in_a_row = 0
    while True:
        # Polling a condition: the client gives no signal for a dropped stream.
        await anyio.sleep(HTTP_WATCH_S)
        # Abandoned when the call ends first: a finished call does not wait for a probe.
        gone = await anyio.to_thread.run_sync(unreachable, url, abandon_on_cancel=True)
        failed_in_a_row = failed_in_a_row + 1 if gone else 0
        if gone and failed_in_a_row >= 2:
            return gone


def _tools(server: McpServer, tools: Iterable[Tool]) -> list[BaseTool]:
    call = _Call(server)
    return [
        convert_mcp_tool_to_langchain_tool(
            None,
            tool,
            connection=_connection(server),
            server_name=server.name,
            tool_interceptors=[call],
        )
        for tool in tools
    ]


def _description(server: McpServer, instructions: str | None) -> str:
    if server.description:
        return server.description
    said = " ".join((instructions or "").split())
    if len(said) > DESCRIPTION_CHARS:
        said = said[: DESCRIPTION_CHARS - 1].rstrip() + "…"
    return (said + " " if said else "") + f"The tools of the MCP server {server.name!r}."


def _capabilities(server: McpServer, tools: Sequence[Tool]) -> list[str]:
    if server.capabilities:
        return list(server.capabilities)
    names = [server.name, *(t.name for t in tools)]
    return list(dict.fromkeys(names))[:DEFAULT_CAPABILITIES]


def _unavailable(server: McpServer, reason: str) -> WorkerSpec:
    return WorkerSpec(
        name=server.name,
        description=server.description or f"The tools of the MCP server {server.name!r}.",
        capabilities=server.capabilities or [server.name],
        limitations=server.limitations,
        examples=server.examples,
        unavailable_reason=reason,
        plugin=MCP_PLUGIN,
    )


async def _worker(server: McpServer) -> WorkerSpec:
    try:
        async with open_session(server) as opened:
            try:
                with anyio.fail_after(server.startup_timeout_s):
                    tools = await _list_tools(opened.session)
            except Exception as exc:
                reason = describe(
                    server, exc, doing="listing its tools", stderr=opened.stderr_tail()
                )
                raise McpServerError(reason) from None
            instructions = opened.info.instructions
    except McpServerError as exc:
        return _unavailable(server, exc.reason)
    if not tools:
        return _unavailable(server, f"MCP server {server.name!r} offers no tools")
    return WorkerSpec(
        name=server.name,
        description=_description(server, instructions),
        capabilities=_capabilities(server, tools),
        tools=_tools(server, tools),
        limitations=server.limitations,
        examples=server.examples,
        plugin=MCP_PLUGIN,
    )


async def load_mcp_workers(source: McpServersSource) -> McpWorkers:
    """Start every configured server once (all at once), list its tools, and declare
    its worker.

    Args:
        source: The configuration (see :func:`~workforce_graph.mcp.config.load_mcp_config`).

    Returns:
        One worker per server, in the configuration's order; a server that could not
        start is an unavailable worker with the reason.

    Raises:
        McpConfigError: The configuration is not usable (before any server starts).

    Example:
        >>> workers = await load_mcp_workers("mcp.json")  # doctest: +SKIP
        >>> graph = build_workforce_graph(mcp_servers=workers)  # doctest: +SKIP
    """
    config: McpConfig = load_mcp_config(source)
    specs = await asyncio.gather(*(_worker(s) for s in config.servers.values()))
    return McpWorkers(specs=tuple(specs), source=config.source)


def mcp_worker_specs(source: McpServersSource | McpWorkers | None) -> list[WorkerSpec]:
    """The workers of ``mcp_servers=``, as a graph factory needs them (synchronously).

    An :class:`McpWorkers` is used as it is; a configuration is loaded with
    :func:`load_mcp_workers` on an event loop of its own in a helper thread, so this
    works from synchronous code and inside a running loop alike.

    Raises:
        McpConfigError: The configuration is not usable.
    """
    if source is None:
        return []
    if isinstance(source, McpWorkers):
        return list(source.specs)
    config = load_mcp_config(source)  # errors are raised here, in the caller's thread
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mcp-load") as pool:
        return list(pool.submit(asyncio.run, load_mcp_workers(config)).result().specs)
