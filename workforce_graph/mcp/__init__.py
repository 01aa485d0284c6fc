"""MCP servers as workers: an ``mcpServers`` configuration, as desktop MCP clients use,
turned into one worker per server (see docs/workers.md, "MCP servers as workers").

Example:
    >>> from workforce_graph import build_workforce_graph
    >>> graph = build_workforce_graph(mcp_servers="mcp.json")  # doctest: +SKIP
"""

from workforce_graph.mcp.config import (
    HttpServer,
    McpConfig,
    McpConfigError,
    McpServer,
    McpServersSource,
    StdioServer,
    load_mcp_config,
)
from workforce_graph.mcp.session import McpServerError
from workforce_graph.mcp.workers import MCP_PLUGIN, McpWorkers, load_mcp_workers, mcp_worker_specs

__all__ = [
    "MCP_PLUGIN",
    "HttpServer",
    "McpConfig",
    "McpConfigError",
    "McpServer",
    "McpServerError",
    "McpServersSource",
    "McpWorkers",
    "StdioServer",
    "load_mcp_config",
    "load_mcp_workers",
    "mcp_worker_specs",
]
