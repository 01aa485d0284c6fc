"""The LangGraph server's MCP and A2A endpoints, used with the real ``mcp`` and ``a2a-sdk``
clients against one ``langgraph dev`` started from the repository root.

The models answer from ``tests/fake_openai.py``; each test sets the replies it needs.
"""

from __future__ import annotations

import ast
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import httpx
import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import Message, Part, Role, SendMessageRequest
from google.protobuf.json_format import MessageToDict, ParseDict
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import spec
from tests.fake_openai import FakeHTTPError
from tests.test_studio import PLAN, Studio, langgraph_dev
from workforce_graph.graph import build_workforce_graph
from workforce_graph.models import ModelConfigError
from workforce_graph.server_protocols import IncompleteAnswer, RunFailed, for_protocols
from workforce_graph.testing import ScriptedChatModel, plan_reply

ANSWER = "Hello from the served graph."


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    log = tmp_path_factory.mktemp("served") / "langgraph-dev.log"
    with langgraph_dev(log, ANSWER) as studio:
        yield studio


def served_graph(model: ScriptedChatModel, **options: Any) -> Any:
    builder = build_workforce_graph(
        model=model, workers=[spec("reasoning", "reasoning")], **options
    )
    return for_protocols(builder, name="t")


async def test_the_served_graph_returns_the_answer_and_keeps_the_python_api_whole(
    scripted: Callable[..., ScriptedChatModel],
) -> None:
    model = scripted(planner=lambda m: plan_reply(PLAN[0]), worker=lambda m: "done")
    out = await served_graph(model).ainvoke({"task": "t"})
    assert out == {"answer": {"text": "the final answer", "complete": True, "failed": []}}
    # The public factory's graph still returns the whole state.
    public = build_workforce_graph(model=model, workers=[spec("reasoning", "reasoning")])
    whole = await public.compile().ainvoke({"task": "t"})
    assert {"subtasks", "usage", "answer", "messages"} <= set(whole)


async def test_an_a2a_run_with_an_incomplete_answer_fails_naming_what_did_not_finish(
    scripted: Callable[..., ScriptedChatModel],
) -> None:
    model = scripted(planner=lambda m: plan_reply(PLAN[0]), worker=lambda m: "FAILED: no page")
    graph = served_graph(model, max_retries=0, max_replans=0)
    out = await graph.ainvoke({"task": "t"})  # not A2A: the answer says it is incomplete
    assert out["answer"]["complete"] is False
    with pytest.raises(IncompleteAnswer) as raised:
        await graph.ainvoke({"task": "t"}, {"metadata": {"a2a": {"task_start_id": "x"}}})
    assert (
        type(raised.value).__name__ == "IncompleteAnswer: the answer is incomplete (look: no page)"
    )


async def test_a_node_error_fails_the_run_under_its_one_line(
    scripted: Callable[..., ScriptedChatModel],
) -> None:
    model = scripted(planner=lambda m: ModelConfigError("no model\nnamed x"))
    with pytest.raises(RunFailed) as raised:
        await served_graph(model).ainvoke({"task": "t"})
    assert type(raised.value).__name__ == "ModelConfigError: no model named x"
    assert str(raised.value) == "no model named x"


def failing(status: int, message: str) -> Callable[..., NoReturn]:
    def reply(messages: list[dict[str, Any]], body: dict[str, Any]) -> NoReturn:
        raise FakeHTTPError(status, message)

    return reply


def worker_gives_up(messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
    return "FAILED: the page would not load"


async def call_tool(url: str, name: str, arguments: dict[str, Any]) -> Any:
    async with (
        streamable_http_client(f"{url}/mcp") as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        return await session.call_tool(name, arguments)


async def test_mcp_lists_each_graph_as_a_described_tool_taking_a_task(served: Studio) -> None:
    async with (
        streamable_http_client(f"{served.url}/mcp") as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        tools = {t.name: t for t in (await session.list_tools()).tools}
    assert set(tools) == {"workforce", "workforce_review", "flow"}
    for tool in tools.values():
        assert tool.description and not tool.description.startswith("Tool based on")
        properties = tool.inputSchema["properties"]
        assert properties["task"]["type"] == "string"
        assert properties["messages"]["type"] == "array"  # a conversation, not a string
    assert "approve" in (tools["workforce_review"].description or "")


async def test_mcp_tool_returns_the_answer_not_the_state(served: Studio) -> None:
    result = await call_tool(served.url, "workforce", {"task": "Greet the user"})
    assert not result.isError
    out = ast.literal_eval(result.content[0].text)  # the server sends repr() of the output
    assert out == {"answer": {"text": ANSWER, "complete": True, "failed": []}}
    assert out["answer"] == {"text": ANSWER, "complete": True, "failed": []}


async def test_mcp_tool_reports_an_incomplete_answer_with_what_failed(served: Studio) -> None:
    served.fake.responders.update(worker=worker_gives_up)
    try:
        result = await call_tool(served.url, "workforce", {"task": "Greet the user"})
    finally:
        served.fake.responders.clear()
    assert not result.isError
    answer = ast.literal_eval(result.content[0].text)["answer"]
    assert answer["complete"] is False
    assert {f["id"] for f in answer["failed"]} >= {"look"}
    assert "the page would not load" in answer["failed"][0]["reason"]


async def test_mcp_tool_error_carries_its_message(served: Studio) -> None:
    served.fake.responders.update(planner=failing(401, "Incorrect API key provided"))
    try:
        result = await call_tool(served.url, "workforce", {"task": "Greet the user"})
    finally:
        served.fake.responders.clear()
    assert result.isError
    text = result.content[0].text
    # Not the bare class name: the error's one line, class and message.
    assert text.startswith("OpenAIAuthenticationError: ")
    assert "401" in text and "Incorrect API key provided" in text
    assert "\n" not in text


async def test_mcp_review_tool_says_it_needs_a_thread(served: Studio) -> None:
    result = await call_tool(served.url, "workforce_review", {"task": "Greet the user"})
    assert result.isError
    assert result.content[0].text.startswith("PlanReviewNeedsThread: ")
    assert "use the workforce tool" in result.content[0].text


async def send_a2a(url: str, assistant_id: str, *parts: Part, **ids: str) -> dict[str, Any]:
    """Send one A2A message with the SDK's client; return the final task as JSON.

    ``ids``: ``task_id`` and ``context_id`` to answer a task that asks for input.
    """
    async with httpx.AsyncClient(timeout=120) as http:
        client = await create_client(
            f"{url}/a2a/{assistant_id}",
            client_config=ClientConfig(httpx_client=http, streaming=False),
            relative_card_path=f"/.well-known/agent-card.json?assistant_id={assistant_id}",
        )
        message = Message(role=Role.ROLE_USER, message_id=uuid.uuid4().hex, parts=parts, **ids)
        tasks = [
            MessageToDict(event.task)
            async for event in client.send_message(SendMessageRequest(message=message))
            if event.HasField("task")
        ]
    assert tasks, "the A2A server sent no task"
    return tasks[-1]


def text(value: str) -> Part:
    return Part(text=value)


def data(value: dict[str, Any]) -> Part:
    part = Part()
    ParseDict(value, part.data)
    return part


async def assistant_id(url: str, graph_id: str) -> str:
    async with httpx.AsyncClient() as http:
        found = (await http.post(f"{url}/assistants/search", json={"graph_id": graph_id})).json()
    return str(found[0]["assistant_id"])


async def test_a2a_message_gets_the_answer_text(served: Studio) -> None:
    task = await send_a2a(served.url, await assistant_id(served.url, "workforce"), text("Hi"))
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    parts = [p for a in task["artifacts"] for p in a["parts"]]
    assert [p.get("text") for p in parts] == [ANSWER]


async def test_a2a_review_asks_for_approval_and_answers_once_approved(served: Studio) -> None:
    review_id = await assistant_id(served.url, "workforce_review")
    task = await send_a2a(served.url, review_id, text("Greet me"))
    assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    value = task["artifacts"][0]["parts"][0]["data"]["value"]
    assert value["kind"] == "plan_review"
    assert [s["id"] for s in value["subtasks"]] == ["look", "say"]

    approve = data({"resume": {"action": "approve"}})
    done = await send_a2a(
        served.url, review_id, approve, task_id=task["id"], context_id=task["contextId"]
    )
    assert done["status"]["state"] == "TASK_STATE_COMPLETED"
    assert [p.get("text") for a in done["artifacts"] for p in a["parts"]] == [ANSWER]


async def test_a2a_incomplete_answer_is_a_failed_task_saying_why(served: Studio) -> None:
    served.fake.responders.update(worker=worker_gives_up)
    try:
        task = await send_a2a(served.url, await assistant_id(served.url, "workforce"), text("Hi"))
    finally:
        served.fake.responders.clear()
    assert task["status"]["state"] == "TASK_STATE_FAILED", json.dumps(task)[:2000]
    reason = task["status"]["message"]["parts"][0]["text"]
    assert "IncompleteAnswer" in reason and "the page would not load" in reason
