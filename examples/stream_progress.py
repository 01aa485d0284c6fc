"""Stream the Workforce graph's progress events while it runs.

The graph writes one event per step to LangGraph's ``custom`` stream: ``plan``,
``assigned``, ``started``, ``finished``, ``failed``, ``retry``, ``replan``, ``answer``
(and ``plan_error``). Each is a JSON-friendly dict, so it can go straight to a log, a
web socket or a progress bar.

Run::

    python examples/stream_progress.py "Summarise the pros and cons of SQLite" --model local
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.graph.state import CompiledStateGraph

from workforce_graph import ModelConfigError, build_workforce_graph, resolve_model

__all__ = ["describe", "main", "progress"]


async def progress(
    graph: CompiledStateGraph[Any, Any, Any, Any], task: str
) -> AsyncIterator[dict[str, Any]]:
    """Run ``task`` and yield each progress event as it happens.

    Args:
        graph: A compiled Workforce graph.
        task: The request.

    Yields:
        Event dicts; the last one is the ``answer`` event with the answer ``text``.

    Example:
        >>> async for event in progress(graph, "Compare X and Y"):  # doctest: +SKIP
        ...     print(describe(event))
    """
    async for event in graph.astream({"task": task}, stream_mode="custom"):
        yield event


def describe(event: dict[str, Any]) -> str:
    """One human-readable line for a progress event."""
    kind = event.get("event", "?")
    where = f"[{event['subtask_id']}]" if event.get("subtask_id") else ""
    who = f" ({event['worker']})" if event.get("worker") else ""
    if kind == "plan":
        steps = ", ".join(s["id"] for s in event.get("subtasks", []))
        return f"plan: {steps}"
    if kind == "answer":
        state = "complete" if event.get("complete") else "incomplete"
        return f"answer ({state}):\n{event.get('text', '')}"
    if kind == "finished":
        return f"finished{where}{who} in {event.get('seconds', 0):.1f} s"
    if kind == "replan":
        return f"replan #{event.get('replans')}: " + "; ".join(event.get("reasons", []))
    detail = event.get("reason") or event.get("error") or ""
    return f"{kind}{where}{who}" + (f": {detail}" if detail else "")


async def _run(task: str, model: BaseChatModel) -> None:
    graph = build_workforce_graph(model=model).compile()
    async for event in progress(graph, task):
        print(describe(event), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Print one line per progress event, then the answer."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("task", nargs="?", default="List three uses of a message queue.")
    parser.add_argument("--model", default=os.environ.get("WORKFORCE_GRAPH_MODEL", "local"))
    parser.add_argument("--base-url", default=os.environ.get("WORKFORCE_GRAPH_BASE_URL"))
    args = parser.parse_args(argv)
    try:
        # Resolving now turns a bad model name into one line before anything runs.
        asyncio.run(_run(args.task, resolve_model(args.model, base_url=args.base_url)))
    except (ModelConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
