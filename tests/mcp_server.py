"""A small MCP server written with the ``mcp`` SDK (FastMCP), for the MCP worker tests.

Run it over stdio (``python tests/mcp_server.py``) or streamable HTTP
(``python tests/mcp_server.py --http PORT``, endpoint ``/mcp`` on 127.0.0.1). With
``MCP_TEST_PID_DIR`` set, every start writes ``<pid>.pid`` there, so a test can check
that no server process outlives the command that started it. ``--fail-start`` exits at
once with a message on stderr, as a server with a missing key would.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from mcp.server.fastmcp import FastMCP

SECRET = "zebra-crossing-4217"
"""What ``secret_word`` returns: a value no model could guess, so an answer holding it
shows the tool really ran."""

server = FastMCP("calc", instructions="Exact arithmetic and a secret word.", log_level="WARNING")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers exactly."""
    return a + b


@server.tool()
def secret_word() -> str:
    """The secret word of the day."""
    return SECRET


@server.tool()
def refuse(reason: str) -> str:
    """Fail with an MCP tool error (isError), which the model may react to."""
    raise ValueError(f"refused: {reason}")


@server.tool()
def crash() -> str:
    """Kill the server process in the middle of the call."""
    sys.stderr.write("calc server: crashing on purpose\n")
    sys.stderr.flush()
    os._exit(3)


@server.tool()
async def hang() -> str:
    """Never answer (until the client gives up and the server is stopped)."""
    await asyncio.Event().wait()
    return "unreachable"


def _write_pid() -> None:
    folder = os.environ.get("MCP_TEST_PID_DIR")
    if folder:
        Path(folder, f"{os.getpid()}.pid").write_text(str(os.getpid()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP")
    parser.add_argument("--fail-start", action="store_true")
    args = parser.parse_args()
    _write_pid()
    if args.fail_start:
        sys.stderr.write("calc server: CALC_LICENCE is not set\n")
        sys.exit(1)
    if args.http:
        server.settings.host = "127.0.0.1"
        server.settings.port = args.http
        server.settings.log_level = "WARNING"
        server.run(transport="streamable-http")
    else:
        server.settings.log_level = "WARNING"
        server.run(transport="stdio")


if __name__ == "__main__":
    main()
