"""``--mcp FILE``: MCP servers as workers on the command line (``run``, ``resume``,
``plugins``).

The file is checked before anything costly (the models, the run store), and a bad one is
one line and exit 2. The servers are then started once each to list their tools; one
that cannot start is an unavailable worker with the reason, and the run goes on (see
:mod:`workforce_graph.mcp.workers`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from workforce_graph.cli.errors import CliError
from workforce_graph.workers import WorkerSpec

if TYPE_CHECKING:  # the MCP SDK is imported only by commands given --mcp
    from workforce_graph.mcp import McpConfig, McpWorkers

__all__ = ["McpFile", "checked_mcp_config", "mcp_card_details", "mcp_path", "started_mcp_workers"]

McpFile = Annotated[
    Path | None,
    typer.Option(
        "--mcp",
        help="MCP servers as workers: a JSON file in the 'mcpServers' format desktop MCP "
        "clients use (see docs/workers.md).",
        show_default=False,
    ),
]


def mcp_path(path: Path | None) -> str | None:
    """The file as stored with a run: absolute, so ``resume`` finds it from anywhere."""
    return str(path.absolute()) if path is not None else None


def checked_mcp_config(path: str | None) -> McpConfig | None:
    """The configuration at ``path``, checked whole (no server started).

    Raises:
        CliError: The file is missing, not JSON or of the wrong shape (one line, exit 2).
    """
    if path is None:
        return None
    from workforce_graph.mcp import McpConfigError, load_mcp_config

    try:
        return load_mcp_config(path)
    except McpConfigError as exc:
        raise CliError(str(exc)) from None


async def started_mcp_workers(config: McpConfig | None) -> McpWorkers | None:
    """Each server started once to list its tools (all at once), as workers."""
    if config is None:
        return None
    from workforce_graph.mcp import McpConfigError, load_mcp_workers

    # The SDK logs what it meets (a refused connection, a 404) with tracebacks on
    # stderr; the workers say it in one line instead.
    logging.getLogger("mcp").setLevel(logging.CRITICAL)
    try:
        return await load_mcp_workers(config)
    except McpConfigError as exc:
        raise CliError(str(exc)) from None


def mcp_card_details(spec: WorkerSpec, config: McpConfig | None) -> dict[str, Any] | None:
    """How an MCP worker's server is reached (``{"transport", "where"}``), for
    ``plugins``; ``None`` for other workers."""
    # "mcp" is workforce_graph.mcp.MCP_PLUGIN, not imported: plugins without --mcp
    # would load the MCP SDK for it.
    if config is None or spec.plugin != "mcp" or spec.name not in config.servers:
        return None
    server = config.servers[spec.name]
    return {"transport": server.transport, "where": server.where()}
