"""``workforce-graph plugins`` and ``workforce-graph graph``: what is installed, and the shape."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from workforce_graph.cli.errors import CliError
from workforce_graph.cli.mcp import mcp_card_details
from workforce_graph.plugins import collect_workers, get_plugin_manager

if TYPE_CHECKING:
    from workforce_graph.mcp import McpConfig, McpWorkers

__all__ = ["draw_png", "graph_to_dot", "mermaid", "plugin_report", "print_plugins"]


def plugin_report(
    mcp: McpWorkers | None = None, mcp_config: McpConfig | None = None
) -> dict[str, Any]:
    """Every plugin with its workers (available or not, and why) and every plugin problem.

    Args:
        mcp: The workers of MCP servers (``--mcp``), listed under the plugin ``mcp``.
        mcp_config: Their configuration: each MCP worker's card says how its server is
            reached (``"mcp": {"transport", "where"}``).

    Returns:
        ``{"plugins": [{"name", "workers": [card + "available"]}], "problems": [...]}``.
    """
    pm = get_plugin_manager()
    registry = collect_workers(pm)
    for extra in mcp.specs if mcp is not None else ():
        registry.add(extra, plugin=extra.plugin)
    plugins: dict[str, list[dict[str, Any]]] = {
        name: [] for name, plugin in pm.list_name_plugin() if plugin is not None
    }
    for spec in registry.workers.values():
        card = spec.card()
        card["available"] = spec.available
        card["unavailable_reason"] = spec.unavailable_reason
        card["tools"] = [t["name"] for t in card["tools"]]
        if (details := mcp_card_details(spec, mcp_config)) is not None:
            card["mcp"] = details
        plugins.setdefault(spec.plugin, []).append(card)
    problem_plugins = {p.plugin for p in registry.problems}
    return {
        "plugins": [
            {"name": name, "workers": workers, "ok": name not in problem_plugins}
            for name, workers in sorted(plugins.items())
        ],
        "problems": [{"plugin": p.plugin, "message": p.message} for p in registry.problems],
    }


def print_plugins(
    *, as_json: bool = False, mcp: McpWorkers | None = None, mcp_config: McpConfig | None = None
) -> int:
    """Print the plugin report as a table (or JSON), MCP workers included when given.

    Returns:
        The exit code (0).
    """
    report = plugin_report(mcp, mcp_config)
    if as_json:
        print(json.dumps(report, indent=2))
        return 0
    console = Console(highlight=False)
    table = Table(show_edge=False, title="Plugins and workers", title_justify="left")
    for column in ("plugin", "worker", "capabilities", "tools", "status"):
        table.add_column(column)
    for plugin in report["plugins"]:
        if not plugin["workers"]:
            table.add_row(
                plugin["name"],
                Text("—", style="dim"),
                "",
                "",
                Text("registers no worker", style="dim"),
            )
        for card in plugin["workers"]:
            status = (
                Text("available", style="green")
                if card["available"]
                else Text(f"unavailable: {card['unavailable_reason']}", style="yellow")
            )
            table.add_row(
                plugin["name"],
                card["name"],
                ", ".join(card["capabilities"]),
                ", ".join(card["tools"]) or "—",
                status,
            )
    console.print(table)
    for problem in report["problems"]:
        console.print(
            Text(f"plugin {problem['plugin']!r} skipped: {problem['message']}", style="red")
        )
    return 0


def mermaid(graph: Any) -> str:
    """The compiled graph as Mermaid text."""
    return str(graph.get_graph().draw_mermaid())


def graph_to_dot(graph: Any) -> str:
    """The compiled graph in Graphviz DOT (conditional edges dashed)."""
    drawable = graph.get_graph()
    lines = [
        "digraph workforce {",
        '  rankdir=TB; node [shape=box, style="rounded,filled", '
        'fillcolor="#f2f0ff", fontname="Helvetica"];',
    ]
    for node_id, node in drawable.nodes.items():
        shape = ', shape=oval, fillcolor="#dddddd"' if node_id in ("__start__", "__end__") else ""
        label = node.name.strip("_")
        lines.append(f'  "{node_id}" [label="{label}"{shape}];')
    for edge in drawable.edges:
        style = " [style=dashed]" if edge.conditional else ""
        lines.append(f'  "{edge.source}" -> "{edge.target}"{style};')
    lines.append("}")
    return "\n".join(lines) + "\n"


def draw_png(graph: Any, path: Path, *, online: bool = False) -> str:
    """Write the graph as PNG, offline when possible.

    Tries, in order: pygraphviz, Graphviz's ``dot`` program, the Mermaid CLI
    (``mmdc``), and, only with ``online=True``, the mermaid.ink web service.

    Args:
        graph: A compiled graph.
        path: Where to write the PNG.
        online: Allow sending the Mermaid text to mermaid.ink.

    Returns:
        The method used.

    Raises:
        CliError: No renderer is available (one line, suggesting the Mermaid output).
    """
    drawable = graph.get_graph()
    try:
        import pygraphviz  # noqa: F401

        drawable.draw_png(str(path))
        return "pygraphviz"
    except ImportError:
        pass
    if dot := shutil.which("dot"):
        _run([dot, "-Tpng", "-o", str(path)], graph_to_dot(graph))
        return "graphviz"
    if mmdc := shutil.which("mmdc"):
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "graph.mmd"
            source.write_text(mermaid(graph))
            _run([mmdc, "-i", str(source), "-o", str(path)], None)
        return "mermaid-cli"
    if online:
        from langchain_core.runnables.graph import MermaidDrawMethod

        try:
            drawable.draw_mermaid_png(output_file_path=str(path), draw_method=MermaidDrawMethod.API)
        except Exception as exc:
            raise CliError(f"mermaid.ink could not render the graph: {exc}") from exc
        return "mermaid.ink"
    raise CliError(
        "PNG output needs Graphviz ('dot' on PATH, e.g. apt-get install graphviz), pygraphviz "
        "or the Mermaid CLI ('mmdc'); add --online to use mermaid.ink, or run "
        "'workforce-graph graph' for Mermaid text"
    )


def _run(command: list[str], stdin: str | None) -> None:
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CliError(f"{Path(command[0]).name} failed: {exc}") from exc
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise CliError(f"{Path(command[0]).name} failed: {detail}")
