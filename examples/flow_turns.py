"""Run a request through the flow topology and print its memory, turn by turn.

The flow (AgentFlow's design) works one turn at a time: the planner picks a sub-goal
and a worker, the executor runs it, the verifier says STOP or CONTINUE, and every turn
lands in a typed memory that the next planner turn reads. This example uses the sync
API (``invoke``) and prints each turn's record and the answer.

Run::

    python examples/flow_turns.py "What is 17 squared, minus 12?" --model local
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph.state import CompiledStateGraph

from workforce_graph import ModelConfigError, build_flow_graph, resolve_model
from workforce_graph.flow import MemoryRecord

__all__ = ["build", "describe_turn", "main", "solve"]


def build(model: BaseChatModel, **options: Any) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The flow graph with an in-memory checkpointer (each turn is checkpointed)."""
    return build_flow_graph(model=model, **options).compile(checkpointer=InMemorySaver())


def solve(graph: CompiledStateGraph[Any, Any, Any, Any], task: str) -> dict[str, Any]:
    """Run ``task`` to its answer on a fresh thread and return the final state.

    Example:
        >>> state = solve(build(model), "Compare X and Y")  # doctest: +SKIP
        >>> [describe_turn(r) for r in state["memory"]]  # doctest: +SKIP
    """
    config = {"configurable": {"thread_id": uuid.uuid4().hex}}
    state: dict[str, Any] = graph.invoke({"task": task}, config)
    return state


def describe_turn(record: MemoryRecord) -> str:
    """One line for a turn: number, worker, outcome, verdict."""
    outcome = (
        f"done: {record['result'][:80]}"
        if record["status"] == "done"
        else f"failed: {record['failure_reason']}"
    )
    verdict = (record["verdict"] or "-").upper()
    head = f"turn {record['turn']} [{record['worker'] or '-'}] {record['sub_goal']}"
    return f"{head} -> {outcome} ({verdict})"


def main(argv: Sequence[str] | None = None) -> int:
    """Print each turn of the flow, then the answer."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("task", nargs="?", default="What is 17 squared, minus 12?")
    parser.add_argument("--model", default=os.environ.get("WORKFORCE_GRAPH_MODEL", "local"))
    parser.add_argument("--base-url", default=os.environ.get("WORKFORCE_GRAPH_BASE_URL"))
    parser.add_argument("--max-turns", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        # Resolving now turns a bad model name into one line before anything runs.
        model = resolve_model(args.model, base_url=args.base_url)
        state = solve(build(model, max_turns=args.max_turns), args.task)
    except (ModelConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for record in state["memory"]:
        print(describe_turn(record))
    answer = state["answer"]
    print(f"answer ({'complete' if answer['complete'] else 'incomplete'}):\n{answer['text']}")
    return 0 if answer["complete"] else 1


if __name__ == "__main__":
    sys.exit(main())
