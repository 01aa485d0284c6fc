"""The ``mcpServers`` configuration: which MCP servers become workers, and how to reach them.

The file is the one desktop MCP clients use (Claude Desktop, Cursor, Cline), so an
existing one works as it is::

    {"mcpServers": {
        "files": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "."]},
        "search": {"type": "http", "url": "https://example.com/mcp",
                   "headers": {"Authorization": "Bearer ${SEARCH_TOKEN}"}}
    }}

A server with ``command`` is started over stdio; one with ``url`` is reached over
streamable HTTP (``type``/``transport``: ``http``, ``streamable_http``,
``streamable-http`` or ``streamableHttp``). Beside those, workforce-graph reads its own
keys: ``capabilities``, ``description``, ``limitations``, ``examples``, ``timeout_s``
(one tool call) and ``startup_timeout_s``. Keys other clients use (``disabled``,
``autoApprove``, ...) are accepted; ``disabled: true`` leaves the server out. Anything
else is a mistake, reported with the server's name, as a wrong shape or an unknown
transport is: the file is checked whole before any server starts.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = [
    "HTTP_TRANSPORTS",
    "HttpServer",
    "McpConfig",
    "McpConfigError",
    "McpServer",
    "McpServersSource",
    "StdioServer",
    "expanded_env",
    "expanded_headers",
    "load_mcp_config",
]

HTTP_TRANSPORTS = ("http", "streamable_http", "streamable-http", "streamableHttp")
"""How configurations spell streamable HTTP (VS Code, langchain-mcp-adapters, Cline)."""

_OTHER_CLIENTS_KEYS = ("disabled", "autoApprove", "alwaysAllow", "timeout", "envFile")
"""Keys of other MCP clients' configurations: accepted, not used (``disabled`` is)."""

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_VARIABLE = re.compile(r"\$\{([^}]+)\}")


class McpConfigError(ValueError):
    """A configuration that cannot be used: the one-line message names the file, the
    server and the key."""


class _Server(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    """The server's key in ``mcpServers``, which is also its worker's name."""
    capabilities: list[Annotated[str, Field(min_length=1)]] | None = None
    """Capability tags the planner may require; default: the server's name and its
    tools' names."""
    description: str | None = None
    """What the planner reads; default: the server's ``instructions`` and its name."""
    limitations: list[str] = []
    examples: list[str] = []
    timeout_s: float = Field(default=120.0, gt=0)
    """Seconds one tool call may take before its subtask fails."""
    startup_timeout_s: float = Field(default=30.0, gt=0)
    """Seconds the server may take to start and answer ``initialize``."""
    disabled: bool = False
    autoApprove: list[Any] | None = None  # other clients' key
    alwaysAllow: list[Any] | None = None  # other clients' key
    timeout: float | None = None
    envFile: str | None = None  # other clients' key

    @property
    def transport(self) -> str:
        raise NotImplementedError

    def where(self) -> str:
        """The command line or URL, for messages."""
        raise NotImplementedError


class StdioServer(_Server):
    """A server the framework starts as a child process and talks to over stdio."""

    type: Literal["stdio"] | None = None
    command: str = Field(min_length=1)
    args: list[str] = []
    env: dict[str, str] | None = None
    """Added to the small default environment the MCP SDK gives a server (``PATH``,
    ``HOME``, ...); ``${VAR}`` is read from this process's environment."""
    cwd: str | None = None
    """Working folder; a relative one is taken from the configuration file's folder."""

    @property
    def transport(self) -> str:
        return "stdio"

    def where(self) -> str:
        return " ".join([self.command, *self.args])


class HttpServer(_Server):
    """A server that is already running, reached over streamable HTTP."""

    type: str | None = None
    url: str = Field(min_length=1)
    headers: dict[str, str] = {}
    """HTTP headers, e.g. ``Authorization``; ``${VAR}`` is read from the environment."""

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"must be an http(s) URL, got {url!r}")
        return url

    @property
    def transport(self) -> str:
        return "streamable_http"

    def where(self) -> str:
        return self.url


McpServer = StdioServer | HttpServer


class McpConfig(BaseModel):
    """The servers of one configuration, by name, in the file's order (disabled ones
    left out)."""

    servers: dict[str, McpServer] = {}
    source: str = "the MCP configuration"
    """Where it came from, for messages (a file's path, or ``mcp_servers``)."""


McpServersSource = McpConfig | Mapping[str, Any] | str | os.PathLike[str]
"""What ``mcp_servers=`` accepts: a parsed configuration, the ``{"mcpServers": ...}``
mapping (or the servers mapping itself), or the path of a JSON file."""


def _expand(value: str, where: str) -> str:
    """``${VAR}`` replaced by the environment's value.

    Raises:
        McpConfigError: The variable is not set (a server without its key would only
            fail later, with a less clear reason).
    """

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise McpConfigError(f"{where}: environment variable {name} is not set")
        return os.environ[name]

    return _VARIABLE.sub(lookup, value)


def _transport_of(name: str, raw: Mapping[str, Any], source: str) -> str:
    declared = raw.get("type", raw.get("transport"))
    if declared is None:
        if "command" in raw:
            return "stdio"
        if "url" in raw:
            return "streamable_http"
        raise McpConfigError(
            f"{source}: server {name!r} needs 'command' (stdio) or 'url' (streamable HTTP)"
        )
    if declared == "stdio":
        return "stdio"
    if declared in HTTP_TRANSPORTS:
        return "streamable_http"
    raise McpConfigError(
        f"{source}: server {name!r} has unknown transport {declared!r}; "
        f"use stdio (with 'command') or streamable HTTP (with 'url', type 'http')"
    )


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    place = ".".join(str(p) for p in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"unknown key {place!r}"
    if error["type"] == "missing":
        return f"missing key {place!r}"
    return f"{place}: {error['msg']}" if place else str(error["msg"])


def _server(name: str, raw: Any, source: str, folder: Path | None) -> McpServer:
    if not isinstance(raw, Mapping):
        raise McpConfigError(f"{source}: server {name!r} must be an object")
    if not _NAME.fullmatch(name):
        raise McpConfigError(
            f"{source}: server name {name!r} must be lowercase letters, digits, - or _ "
            "(it is the worker's name)"
        )
    fields = {k: v for k, v in raw.items() if k != "transport"}
    transport = _transport_of(name, raw, source)
    kind: type[StdioServer] | type[HttpServer] = StdioServer if transport == "stdio" else HttpServer
    if transport == "stdio":
        fields.pop("type", None)
    try:
        server = kind.model_validate({**fields, "name": name})
    except ValidationError as exc:
        raise McpConfigError(f"{source}: server {name!r}: {_first_error(exc)}") from None
    if isinstance(server, StdioServer) and server.cwd and folder is not None:
        server.cwd = str((folder / server.cwd).resolve())
    return server


def _parse(data: Any, source: str, folder: Path | None) -> McpConfig:
    # Other top-level keys (a desktop client's own settings) are not ours to judge.
    servers = data.get("mcpServers", data) if isinstance(data, Mapping) else None
    if not isinstance(servers, Mapping) or (servers is data and not data):
        raise McpConfigError(f'{source}: expected an object with "mcpServers", the servers by name')
    parsed = {name: _server(str(name), raw, source, folder) for name, raw in servers.items()}
    return McpConfig(
        servers={name: s for name, s in parsed.items() if not s.disabled}, source=source
    )


def load_mcp_config(source: McpServersSource) -> McpConfig:
    """Read and check an ``mcpServers`` configuration.

    Args:
        source: A path to a JSON file, a mapping (``{"mcpServers": {...}}`` or the
            servers by name), or an :class:`McpConfig` (returned as is).

    Returns:
        The servers, checked (``${VAR}`` is expanded when a server is started).

    Raises:
        McpConfigError: The file is missing or unreadable, not JSON, of the wrong shape,
            names an unknown transport or key (one line naming the file and server).

    Example:
        >>> config = load_mcp_config({"mcpServers": {"calc": {"command": "calc-server"}}})
        >>> config.servers["calc"].transport
        'stdio'
    """
    if isinstance(source, McpConfig):
        return source
    if isinstance(source, Mapping):
        return _parse(source, "mcp_servers", None)
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise McpConfigError(f"MCP configuration {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise McpConfigError(f"MCP configuration {path} cannot be read: {reason}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise McpConfigError(
            f"MCP configuration {path} is not JSON: {exc.msg} (line {exc.lineno}, "
            f"column {exc.colno})"
        ) from None
    return _parse(data, f"MCP configuration {path}", path.parent)


def expanded_env(server: StdioServer) -> dict[str, str] | None:
    """The server's ``env`` with ``${VAR}`` read from this process's environment.

    Raises:
        McpConfigError: A variable it names is not set.
    """
    if server.env is None:
        return None
    where = f"MCP server {server.name!r}: env"
    return {k: _expand(v, f"{where} {k}") for k, v in server.env.items()}


def expanded_headers(server: HttpServer) -> dict[str, str]:
    """The server's headers with ``${VAR}`` read from the environment.

    Raises:
        McpConfigError: A variable it names is not set.
    """
    where = f"MCP server {server.name!r}: header"
    return {k: _expand(v, f"{where} {k}") for k, v in server.headers.items()}
