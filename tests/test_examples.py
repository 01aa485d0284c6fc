"""The examples' core functions, run on scripted models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from pydantic import Field

from examples import agent_tool, flow_turns, stream_progress, subgraph_node
from tests.conftest import spec
from workforce_graph import build_workforce_graph
from workforce_graph.testing import ScriptedChatModel, plan_reply

REPO = Path(__file__).resolve().parents[1]
WORKERS = [spec("reasoning", "reasoning"), spec("web", "web")]


def two_step_team(answer: Any = "the team's answer") -> ScriptedChatModel:
    return ScriptedChatModel(
        responders={
            "planner": plan_reply(
                {"id": "find", "description": "find facts", "capabilities": ["web"]},
                {
                    "id": "sum",
                    "description": "sum up",
                    "capabilities": ["reasoning"],
                    "depends_on": ["find"],
                },
            ),
            "worker": lambda m: "worker result",
            "generator": answer,
        }
    )


async def test_subgraph_node_answers_each_turn_of_a_chat() -> None:
    replies = iter(["first answer", "second answer"])
    team = two_step_team(lambda m: next(replies))
    app = subgraph_node.build_chat_app(team, workers=WORKERS)
    assert await subgraph_node.ask(app, "What is X?", thread_id="chat") == "first answer"
    assert await subgraph_node.ask(app, "And Y?", thread_id="chat") == "second answer"

    state = (await app.aget_state({"configurable": {"thread_id": "chat"}})).values
    # The history is merged by message id: each turn adds one question and one answer.
    assert [(type(m), m.content) for m in state["messages"]] == [
        (HumanMessage, "What is X?"),
        (AIMessage, "first answer"),
        (HumanMessage, "And Y?"),
        (AIMessage, "second answer"),
    ]
    assert state["messages"][-1].name == "workforce"
    assert state["team_answers"] == 2  # the parent node after the team saw both answers
    # The second turn planned the latest question, not the first one.
    planner_prompts = [c["prompt"] for c in team.calls_by_role("planner")]
    assert "Request:\nAnd Y?" in planner_prompts[1]


class ToolCallingFake(GenericFakeChatModel):
    """An agent model: calls ``ask_team`` first, then answers from the tool's result."""

    task: str = "Compare A and B"
    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.seen.append(list(messages))
        last = messages[-1]
        if isinstance(last, ToolMessage):
            reply = AIMessage(f"According to the team: {last.content}")
        else:
            call = {
                "name": "ask_team",
                "args": {"task": self.task},
                "id": "call_1",
                "type": "tool_call",
            }
            reply = AIMessage("", tool_calls=[call])
        return ChatResult(generations=[ChatGeneration(message=reply)])

    def bind_tools(self, tools: Any, **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        return self


async def test_agent_delegates_to_the_team_through_the_tool() -> None:
    team_model = two_step_team("A is faster; B is cheaper.")
    team = build_workforce_graph(model=team_model, workers=WORKERS).compile()
    agent_model = ToolCallingFake(messages=iter(()))
    agent = agent_tool.build_agent(agent_model, team)

    reply = await agent_tool.run_agent(agent, "Which of A and B should I pick?")

    assert reply == "According to the team: A is faster; B is cheaper."
    assert "Request:\nCompare A and B" in team_model.calls_by_role("planner")[0]["prompt"]
    assert len(team_model.calls_by_role("worker")) == 2
    tool_messages = [m for m in agent_model.seen[-1] if isinstance(m, ToolMessage)]
    assert [m.content for m in tool_messages] == ["A is faster; B is cheaper."]
    assert agent_tool.AGENT_PROMPT in str(agent_model.seen[0][0].content)


async def test_agent_tool_flags_an_incomplete_answer() -> None:
    team_model = ScriptedChatModel(
        responders={
            "planner": plan_reply({"id": "s", "description": "d", "capabilities": ["reasoning"]}),
            "worker": lambda m: "FAILED: the source is down",
            "generator": "partial answer",
        }
    )
    team = build_workforce_graph(
        model=team_model, workers=WORKERS, max_retries=0, max_replans=0
    ).compile()
    text = await agent_tool.make_team_tool(team).ainvoke({"task": "t"})
    assert text.startswith("[incomplete answer]\npartial answer")
    assert "the source is down" in text


async def test_stream_progress_yields_events_in_order() -> None:
    graph = build_workforce_graph(model=two_step_team(), workers=WORKERS).compile()
    events = [e async for e in stream_progress.progress(graph, "the task")]
    assert [(e["event"], e.get("subtask_id")) for e in events] == [
        ("plan", None),
        ("assigned", "find"),
        ("assigned", "sum"),
        ("started", "find"),
        ("finished", "find"),
        ("started", "sum"),
        ("finished", "sum"),
        ("answer", None),
    ]
    lines = [stream_progress.describe(e) for e in events]
    assert lines[0] == "plan: find, sum"
    assert lines[1] == "assigned[find] (web)"
    assert lines[4].startswith("finished[find] (web) in ")
    assert lines[-1] == "answer (complete):\nthe team's answer"


def test_describe_covers_failures_and_replans() -> None:
    failed = {"event": "failed", "subtask_id": "s1", "worker": "web", "reason": "timeout"}
    assert stream_progress.describe(failed) == "failed[s1] (web): timeout"
    replan = {"event": "replan", "replans": 1, "reasons": ["subtask s1 (web) failed: x"]}
    assert stream_progress.describe(replan) == "replan #1: subtask s1 (web) failed: x"
    assert (
        stream_progress.describe({"event": "plan_error", "error": "no plan"})
        == "plan_error: no plan"
    )


def test_flow_turns_prints_each_turn_of_the_memory() -> None:
    verdicts = iter(
        [
            {"reason": "the square is known", "decision": "CONTINUE"},
            {"reason": "ok", "decision": "STOP"},
        ]
    )
    goals = iter(["square 17", "subtract 12"])
    model = ScriptedChatModel(
        responders={
            "query_analysis": {
                "needs": "arithmetic",
                "capabilities": ["reasoning"],
                "answer_form": "a number",
            },
            "planner": lambda m: {
                "justification": "next",
                "context": "",
                "sub_goal": next(goals),
                "worker": "reasoning",
            },
            "executor": lambda m: "289" if "square 17" in str(m[-1].content) else "277",
            "verifier": lambda m: next(verdicts),
            "generator": "277",
        }
    )
    state = flow_turns.solve(flow_turns.build(model, workers=WORKERS), "17 squared minus 12?")
    assert [flow_turns.describe_turn(r) for r in state["memory"]] == [
        "turn 1 [reasoning] square 17 -> done: 289 (CONTINUE)",
        "turn 2 [reasoning] subtract 12 -> done: 277 (STOP)",
    ]
    assert state["answer"] == {"text": "277", "complete": True, "failed": []}


@pytest.mark.parametrize("example", [subgraph_node, agent_tool, stream_progress, flow_turns])
def test_examples_report_a_bad_model_in_one_line(
    example: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert example.main(["hi", "--model", "nosuchprovider:model"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nosuchprovider:model" in err and err.count("\n") == 1


def test_example_runs_as_a_script() -> None:
    done = subprocess.run(
        [sys.executable, "examples/stream_progress.py", "hi", "--model", "nosuchprovider:model"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
        env={**os.environ, "LANGSMITH_TRACING": "false"},
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
