"""The workforce as an MCP server: ``workforce-graph serve mcp``.

One tool, ``run_task``, runs a request (task, answer format, attachments, topology) on
the workforce and returns the answer with its completeness, what failed, the token
usage and the run's thread id; every progress event is a progress notification, and a
call the client cancels stops its run. Served over stdio (a desktop client starts the
server) or streamable HTTP. See docs/embedding.md.
"""

from workforce_graph.mcp_server.runner import RunStopped, WorkforceRunner
from workforce_graph.mcp_server.server import SERVER_NAME, build_server
from workforce_graph.mcp_server.tool import TOOL_NAME, RequestError, RunRequest, RunResult
from workforce_graph.mcp_server.transports import HTTP_PATH, serve_http, serve_stdio

__all__ = [
    "HTTP_PATH",
    "SERVER_NAME",
    "TOOL_NAME",
    "RequestError",
    "RunRequest",
    "RunResult",
    "RunStopped",
    "WorkforceRunner",
    "build_server",
    "serve_http",
    "serve_stdio",
]
