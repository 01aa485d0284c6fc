"""The graph behaves as LangChain and LangGraph users expect: sync API, threads,
content blocks, run metadata, and failures that read as failures."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from tests.conftest import run_graph, spec, subtask_id_of
from workforce_graph import build_workforce_graph
from workforce_graph.prompts import BRIEF_RESULT_CHARS
from workforce_graph.testing import ScriptedChatModel, plan_reply

WAIT_S = 10.0
"""Upper bound on waiting for a condition; reached only when the behaviour is broken."""


def sub(sid: str, *deps: str) -> dict[str, Any]:
    return {"id": sid, "description": f"do {sid}", "capabilities": ["x"], "depends_on": list(deps)}


def graph_of(model: ScriptedChatModel, *workers: Any, **options: Any) -> Any:
    return build_workforce_graph(
        model=model, workers=list(workers) or [spec("w", "x")], **options
    ).compile(checkpointer=InMemorySaver())


def thread(name: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": name}}


def test_sync_invoke_and_stream_behave_like_the_async_api() -> None:
    model = ScriptedChatModel(
        responders={"planner": plan_reply(sub("a"), sub("b", "a")), "generator": "the answer"}
    )
    graph = graph_of(model)
    final = graph.invoke({"task": "t"}, thread("sync"))
    assert final["answer"] == {"text": "the answer", "complete": True, "failed": []}
    events = [e["event"] for e in graph.stream({"task": "t"}, thread("s2"), stream_mode="custom")]
    assert events.count("finished") == 2 and events[-1] == "answer"
    assert graph.get_state(thread("sync")).values["answer"]["complete"]


async def test_a_new_request_on_a_finished_thread_is_a_new_run() -> None:
    def planner(messages: list[BaseMessage]) -> dict[str, Any]:
        prompt = str(messages[-1].content)
        return plan_reply(sub("b1") if "second" in prompt.split("Earlier")[0] else sub("a1"))

    def worker(messages: list[BaseMessage]) -> str:
        return "FAILED: always" if subtask_id_of(messages) == "a1" else "fine"

    model = ScriptedChatModel(responders={"planner": planner, "worker": worker})
    graph = graph_of(model, max_retries=0)
    first = await graph.ainvoke({"messages": [HumanMessage("first question")]}, thread("t"))
    assert first["replans"] == 2 and not first["answer"]["complete"]

    second = await graph.ainvoke({"messages": [HumanMessage("second question")]}, thread("t"))
    assert second["task"] == "second question"
    assert [s["id"] for s in second["subtasks"]] == ["b1"]
    assert second["replans"] == 0 and second["answer"]["complete"]
    assert second["usage"]["planner"]["calls"] == 1
    assert [m.type for m in second["messages"]] == ["human", "ai", "human", "ai"]
    prompt = model.calls_by_role("planner")[-1]["prompt"]
    assert "first question" in prompt  # the follow-up sees the conversation ...
    assert "previous plan failed" not in prompt and "finished" not in prompt  # ... not the run

    third = await graph.ainvoke({"task": "third, the second again"}, thread("t"))
    assert third["task"] == "third, the second again"
    assert [s["id"] for s in third["subtasks"]] == ["b1"] and third["replans"] == 0
    assert third["messages"][-2].content == "third, the second again"


async def test_content_blocks_are_read_as_text() -> None:
    model = ScriptedChatModel(responders={"planner": plan_reply(sub("a"))})
    message = HumanMessage(content=[{"type": "text", "text": "2024年の東京の売上"}])
    final = await graph_of(model).ainvoke({"messages": [message]}, thread("blocks"))
    assert final["task"] == "2024年の東京の売上"
    assert "東京" in model.calls_by_role("planner")[0]["prompt"]


async def test_a_worker_raising_cancelled_error_is_a_failed_subtask_with_an_event() -> None:
    async def gives_up(context: dict[str, Any]) -> str:
        raise asyncio.CancelledError()

    worker = spec("w", "x", factory=lambda model: RunnableLambda(gives_up))
    model = ScriptedChatModel(responders={"planner": plan_reply(sub("a"))})
    final, events = await run_graph(model, workers=[worker], max_retries=0, max_replans=0)
    (a,) = final["subtasks"]
    assert a["status"] == "failed" and final["answer"]["complete"] is False
    assert [e["subtask_id"] for e in events if e["event"] == "failed"] == ["a"]
    assert "Error" not in final["answer"]["text"] and "Error" not in (a["failure_reason"] or "")


async def test_custom_workers_get_brief_dependency_results_like_the_tool_loop() -> None:
    seen: dict[str, dict[str, str]] = {}

    async def work(context: dict[str, Any]) -> str:
        seen[context["subtask_id"]] = dict(context["dependency_results"])
        return "x" * (3 * BRIEF_RESULT_CHARS)

    worker = spec("w", "x", factory=lambda model: RunnableLambda(work))
    model = ScriptedChatModel(responders={"planner": plan_reply(sub("a"), sub("b", "a"))})
    final, _ = await run_graph(model, workers=[worker])
    assert len(final["subtasks"][0]["result"]) == 3 * BRIEF_RESULT_CHARS  # kept whole
    assert len(seen["b"]["a"]) <= BRIEF_RESULT_CHARS and seen["b"]["a"].endswith(
        "more characters cut]"
    )


class RunRecorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.runs.append({"tags": tags or [], "metadata": metadata or {}, **kwargs})


async def test_every_model_call_carries_its_role() -> None:
    model = ScriptedChatModel(
        responders={
            "planner": plan_reply(sub("a"), sub("b", "a")),
            "coordinator": {"assignments": [{"subtask_id": "a", "worker": "w1"}]},
            "verifier": {"ok": True},
        }
    )
    recorder = RunRecorder()
    graph = graph_of(model, spec("w1", "x"), spec("w2", "x"), verify_results=True)
    config = {**thread("roles"), "callbacks": [recorder]}
    final = await graph.ainvoke({"task": "t"}, config)
    assert final["answer"]["complete"]
    roles = [r["metadata"]["workforce_role"] for r in recorder.runs]
    assert set(roles) == {"planner", "coordinator", "worker", "verifier", "generator"}
    for run in recorder.runs:
        role = run["metadata"]["workforce_role"]
        assert f"workforce:{role}" in run["tags"]
        assert set(run["metadata"]) >= {"workforce_node", "subtask_id", "turn"}
    workers = [r["metadata"] for r in recorder.runs if r["metadata"]["workforce_role"] == "worker"]
    assert sorted(m["subtask_id"] for m in workers) == ["a", "b"]
    assert all(m["workforce_node"] == "workers" and m["turn"] == 1 for m in workers)
    # The scripted model answered each role by its tag, whatever the prompt says.
    assert [c["role"] for c in model.calls] == roles


async def test_tool_calls_of_one_turn_run_concurrently() -> None:
    barrier = asyncio.Barrier(2)

    @tool
    async def meet(name: str) -> str:
        """Wait for the other call of this turn."""
        await asyncio.wait_for(barrier.wait(), WAIT_S)
        return f"met {name}"

    def worker(messages: list[BaseMessage]) -> AIMessage | str:
        if any(m.type == "tool" for m in messages):
            return "both met"
        calls = [{"name": "meet", "args": {"name": n}, "id": n} for n in ("p", "q")]
        return AIMessage("", tool_calls=calls)

    model = ScriptedChatModel(responders={"planner": plan_reply(sub("a")), "worker": worker})
    final, _ = await run_graph(
        model, workers=[spec("w", "x", tools=(meet,))], max_retries=0, max_replans=0
    )
    assert final["subtasks"][0]["result"] == "both met"


async def test_a_failed_subtask_is_retried_while_its_siblings_still_run() -> None:
    attempts = {"a1": 0}
    a2_started = asyncio.Event()

    async def work(context: dict[str, Any]) -> Any:
        sid = context["subtask_id"]
        if sid == "a1":
            attempts["a1"] += 1
            return {"status": "failed", "reason": "busy"} if attempts["a1"] == 1 else "a1 ok"
        if sid == "a2":
            a2_started.set()
        if sid == "b1":
            # b1 ends only once a1's dependent started: a retry that waited for the
            # round (for b1) would never let it.
            await asyncio.wait_for(a2_started.wait(), WAIT_S)
        return f"{sid} ok"

    worker = spec("w", "x", factory=lambda model: RunnableLambda(work))
    model = ScriptedChatModel(
        responders={"planner": plan_reply(sub("a1"), sub("a2", "a1"), sub("b1"))}
    )
    final, events = await run_graph(model, workers=[worker])
    assert [(s["id"], s["status"], s["attempts"]) for s in final["subtasks"]] == [
        ("a1", "done", 2),
        ("a2", "done", 1),
        ("b1", "done", 1),
    ]
    retry = next(e for e in events if e["event"] == "retry")
    assert retry["subtask_id"] == "a1" and retry["attempt"] == 2 and retry["reason"] == "busy"
    assert final.get("replans", 0) == 0 and final["answer"]["complete"]
