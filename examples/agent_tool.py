"""The Workforce graph as a tool of a LangChain agent.

A ``langchain.agents.create_agent`` agent gets one tool, ``ask_team``, that hands a
self-contained task to the Workforce graph and returns its answer text. The agent
decides when a request is worth a team; the team's plan, workers and tool traces stay
inside the tool call, so the agent's context only grows by the answer.

Run::

    python examples/agent_tool.py "Research and compare two note-taking apps" --model local
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langchain_core.tools import BaseTool, tool
from langgraph.graph.state import CompiledStateGraph

from workforce_graph import ModelConfigError, build_workforce_graph, resolve_model

__all__ = ["AGENT_PROMPT", "build_agent", "main", "make_team_tool", "run_agent"]

AGENT_PROMPT = """You are a helpful assistant. For a request that needs research, \
several steps or several skills, call ask_team with a complete, self-contained task \
and base your reply on its answer. Answer simple questions yourself."""


def make_team_tool(team: CompiledStateGraph[Any, Any, Any, Any]) -> BaseTool:
    """Wrap a compiled Workforce graph as a LangChain tool named ``ask_team``.

    Args:
        team: ``build_workforce_graph(...).compile()``.

    Returns:
        An async tool taking ``task`` and returning the team's answer text.

    Example:
        >>> team_tool = make_team_tool(build_workforce_graph(model="local").compile())
    """

    @tool
    async def ask_team(task: str) -> str:
        """Give a self-contained task to a team of specialised workers (planning, research,
        documents, code) and get back their final answer."""
        out = await team.ainvoke({"task": task})
        answer = out.get("answer") or {}
        text = str(answer.get("text", ""))
        if answer.get("complete") is False:
            # Tell the agent the answer has gaps so it does not present it as complete.
            text = "[incomplete answer]\n" + text
        return text

    return ask_team


def build_agent(
    agent_model: str | BaseChatModel,
    team: CompiledStateGraph[Any, Any, Any, Any],
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """A LangChain agent that can delegate to the Workforce team.

    Args:
        agent_model: The agent's own chat model (it must support tool calling).
        team: The compiled Workforce graph used by the ``ask_team`` tool.

    Returns:
        The agent graph; input ``{"messages": [...]}``.
    """
    return create_agent(agent_model, tools=[make_team_tool(team)], system_prompt=AGENT_PROMPT)


async def run_agent(agent: CompiledStateGraph[Any, Any, Any, Any], request: str) -> str:
    """Send one request to the agent and return its final reply text."""
    out = await agent.ainvoke({"messages": [HumanMessage(request)]})
    return str(out["messages"][-1].content)


def main(argv: Sequence[str] | None = None) -> int:
    """Ask the agent one request and print its reply."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "request", nargs="?", default="Find three facts about Lyon and summarise them."
    )
    parser.add_argument("--model", default=os.environ.get("WORKFORCE_GRAPH_MODEL", "local"))
    parser.add_argument("--base-url", default=os.environ.get("WORKFORCE_GRAPH_BASE_URL"))
    args = parser.parse_args(argv)
    try:
        model = resolve_model(args.model, base_url=args.base_url)
        team = build_workforce_graph(model=model).compile(name="team")
        print(asyncio.run(run_agent(build_agent(model, team), args.request)))
    except (ModelConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
