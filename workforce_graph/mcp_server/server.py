"""The MCP server: one tool, :data:`~workforce_graph.mcp_server.tool.TOOL_NAME`, that runs
a request on the workforce and returns its answer.

Built on the SDK's low-level ``Server`` rather than ``FastMCP``, for three things the
decorator does not give: the arguments checked against the input schema with a
one-line message, errors returned as the message alone (no "Error executing tool"
prefix, no exception class), and the answer's text beside the structured result.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Mapping
from typing import Any

import anyio
from mcp import types
from mcp.server.lowlevel import Server

from workforce_graph.mcp_server.progress import ProgressMessages
from workforce_graph.mcp_server.runner import WorkforceRunner
from workforce_graph.mcp_server.tool import (
    INPUT_SCHEMA,
    TOOL_DESCRIPTION,
    TOOL_NAME,
    RequestError,
    RunResult,
    parse_request,
    result_text,
)

__all__ = ["SERVER_NAME", "build_server", "error_result", "tool_definition"]

SERVER_NAME = "workforce-graph"
_log = logging.getLogger(__name__)


def _version() -> str | None:
    try:
        return importlib.metadata.version("workforce-graph")
    except importlib.metadata.PackageNotFoundError:  # a source checkout, not installed
        return None


def tool_definition() -> types.Tool:
    """The tool as ``tools/list`` shows it."""
    return types.Tool(
        name=TOOL_NAME,
        title="Run a task on the workforce",
        description=TOOL_DESCRIPTION,
        inputSchema=INPUT_SCHEMA,
        outputSchema=RunResult.model_json_schema(),
        annotations=types.ToolAnnotations(
            readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=True
        ),
    )


def error_result(message: str) -> types.CallToolResult:
    """A tool error: the message, one line, for the client's model and its user."""
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=" ".join(message.split()))],
        isError=True,
    )


def build_server(runner: WorkforceRunner) -> Server[Any, Any]:
    """The MCP server offering :data:`TOOL_NAME`, each call a run of ``runner``.

    Each progress event of a run is sent as a progress notification when the call
    asked for them (a ``progressToken``): ``progress`` counts the events, ``message``
    says what happened. A call the client cancels stops its run.
    """
    server: Server[Any, Any] = Server(
        SERVER_NAME,
        version=_version(),
        instructions="Call run_task with a self-contained task for a team of AI workers; "
        "it returns one answer and says whether it is complete.",
    )

    async def list_tools() -> list[types.Tool]:
        return [tool_definition()]

    async def call_tool(name: str, arguments: Mapping[str, Any]) -> types.CallToolResult:
        if name != TOOL_NAME:
            return error_result(f"unknown tool {name!r}; this server offers {TOOL_NAME!r}")
        context = server.request_context
        token = context.meta.progressToken if context.meta is not None else None
        messages = ProgressMessages()
        sent = 0

        async def on_event(event: Mapping[str, Any]) -> None:
            nonlocal sent
            if token is None:
                return
            sent += 1
            try:
                await context.session.send_progress_notification(
                    token,
                    float(sent),
                    message=messages.message(event),
                    related_request_id=str(context.request_id),
                )
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                # The client is gone; its session's end cancels the call, and the run.
                _log.debug("progress of request %s not sent: stream closed", context.request_id)

        try:
            request = parse_request(arguments)
            result = await runner.run(request, on_event)
        except RequestError as exc:
            return error_result(str(exc))
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=result_text(result))],
            structuredContent=result.model_dump(mode="json"),
            isError=False,
        )

    # The SDK's decorators are untyped; registered as calls, the handlers stay typed.
    server.list_tools()(list_tools)  # type: ignore[no-untyped-call]
    server.call_tool(validate_input=True)(call_tool)
    return server
