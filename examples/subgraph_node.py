"""The Workforce graph as one node of a larger LangGraph chat graph.

The parent graph keeps a chat history in ``messages``. The compiled Workforce graph is
added as a node as it is: it reads the history (the last human message is the request)
and adds its answer as an ``AIMessage`` named ``workforce``. Messages keep their ids,
so LangGraph's ``add_messages`` reducer merges the subgraph's output without
duplicating the history. A node after it sees the answer like any other message.

Run::

    python examples/subgraph_node.py "Compare the GDP of France and Germany" --model local
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph

from workforce_graph import ModelConfigError, WorkerSpec, build_workforce_graph, resolve_model

__all__ = ["ChatState", "ask", "build_chat_app", "main"]


class ChatState(MessagesState):
    """The parent graph's state: the chat plus how many answers the team gave."""

    team_answers: int


def count_answer(state: ChatState) -> dict[str, Any]:
    """A parent node after the team: it sees the team's answer as the last message."""
    last = state["messages"][-1]
    from_team = isinstance(last, AIMessage) and last.name == "workforce"
    return {"team_answers": state.get("team_answers", 0) + int(from_team)}


def build_chat_app(
    model: str | BaseChatModel | None = None,
    *,
    base_url: str | None = None,
    workers: Sequence[WorkerSpec] | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """A chat graph whose ``team`` node is the compiled Workforce graph.

    Args:
        model: The Workforce's model (a chat model or a name such as ``"local"``).
        base_url: An OpenAI-compatible server for bare model names.
        workers: Use these workers instead of the installed plugins.

    Returns:
        The parent graph, compiled with an in-memory checkpointer (so a thread keeps
        its history between questions; the Workforce subgraph shares it).

    Example:
        >>> app = build_chat_app("local")  # doctest: +SKIP
        >>> await ask(app, "Plan a trip to Lyon", thread_id="t1")  # doctest: +SKIP
    """
    team = build_workforce_graph(model=model, base_url=base_url, workers=workers).compile(
        name="team"
    )
    parent = StateGraph(ChatState)
    parent.add_node("team", team)
    parent.add_node("count_answer", count_answer)
    parent.add_edge(START, "team")
    parent.add_edge("team", "count_answer")
    parent.add_edge("count_answer", END)
    return parent.compile(checkpointer=InMemorySaver())


async def ask(app: CompiledStateGraph[Any, Any, Any, Any], question: str, *, thread_id: str) -> str:
    """Send one chat message and return the team's reply.

    Args:
        app: A graph from :func:`build_chat_app`.
        question: The user's message.
        thread_id: The conversation; earlier messages of the thread stay in the history.

    Returns:
        The text of the last message (the Workforce's answer).
    """
    out = await app.ainvoke(
        {"messages": [HumanMessage(question)]}, {"configurable": {"thread_id": thread_id}}
    )
    return str(out["messages"][-1].content)


def main(argv: Sequence[str] | None = None) -> int:
    """Ask the team one question through the parent chat graph and print the reply."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("question", nargs="?", default="Explain what a DAG is, in two sentences.")
    parser.add_argument("--model", default=os.environ.get("WORKFORCE_GRAPH_MODEL", "local"))
    parser.add_argument("--base-url", default=os.environ.get("WORKFORCE_GRAPH_BASE_URL"))
    args = parser.parse_args(argv)
    try:
        # Resolving now turns a bad model name into one line before anything runs.
        app = build_chat_app(resolve_model(args.model, base_url=args.base_url))
        print(asyncio.run(ask(app, args.question, thread_id=uuid.uuid4().hex)))
    except (ModelConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
