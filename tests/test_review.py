"""Plan review: interrupt after planning, then approve, edit or reject."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.types import Command

from tests.conftest import spec
from workforce_graph import build_workforce_graph
from workforce_graph.nodes.review import EditPlan, RejectPlan, parse_review_answer
from workforce_graph.testing import ScriptedChatModel, plan_reply

REPO = Path(__file__).resolve().parents[1]


def sub(sid: str, *deps: str, caps: tuple[str, ...] = ("reasoning",)) -> dict[str, Any]:
    return {
        "id": sid,
        "description": f"do {sid}",
        "capabilities": list(caps),
        "depends_on": list(deps),
    }


def reviewed_graph(model: ScriptedChatModel, checkpointer: Any = None, **options: Any) -> Any:
    return build_workforce_graph(
        model=model,
        workers=[spec("reasoning", "reasoning"), spec("web", "web")],
        approve_plan=True,
        **options,
    ).compile(checkpointer=checkpointer or InMemorySaver())


def config() -> dict[str, Any]:
    return {"configurable": {"thread_id": uuid.uuid4().hex}}


def only_interrupt(out: dict[str, Any]) -> dict[str, Any]:
    interrupts = out.get("__interrupt__") or []
    assert len(interrupts) == 1, out
    value: dict[str, Any] = interrupts[0].value
    return value


def worker_echo(messages: list[Any]) -> str:
    text = "\n".join(str(m.content) for m in messages)
    return "did: " + text[text.index("Your subtask (") :].splitlines()[0]


async def test_run_pauses_with_the_plan_and_approve_runs_it(scripted: Any) -> None:
    model = scripted(planner=plan_reply(sub("a"), sub("b", "a", caps=("web",))), worker=worker_echo)
    graph, cfg = reviewed_graph(model), config()
    paused = await graph.ainvoke({"task": "research it"}, cfg)
    review = only_interrupt(paused)
    assert review == {
        "kind": "plan_review",
        "task": "research it",
        "subtasks": [sub("a"), sub("b", "a", caps=("web",))],
        "done": [],
        "capabilities": ["reasoning", "web"],
        "error": None,
    }
    assert "answer" not in paused and model.calls_by_role("worker") == []
    assert (await graph.aget_state(cfg)).next == ("review_plan",)

    final = await graph.ainvoke(Command(resume={"action": "approve"}), cfg)
    assert "__interrupt__" not in final
    assert final["answer"]["complete"] is True
    assert [(s["id"], s["worker"], s["status"]) for s in final["subtasks"]] == [
        ("a", "reasoning", "done"),
        ("b", "web", "done"),
    ]
    # Resuming re-runs only the review node: the planner is not asked again.
    assert len(model.calls_by_role("planner")) == 1


async def test_edit_replaces_the_plan_and_emits_it(scripted: Any) -> None:
    model = scripted(planner=plan_reply(sub("a")), worker=worker_echo)
    graph, cfg = reviewed_graph(model), config()
    await graph.ainvoke({"task": "t"}, cfg)
    edited = [
        {"id": "x", "description": "look it up", "capabilities": ["web"]},
        {"id": "y", "description": "sum it up", "capabilities": ["reasoning"], "depends_on": ["x"]},
    ]
    events = [
        chunk
        async for chunk in graph.astream(
            Command(resume={"action": "edit", "subtasks": edited}), cfg, stream_mode="custom"
        )
    ]
    final = (await graph.aget_state(cfg)).values
    assert [
        (s["id"], s["description"], s["depends_on"], s["status"]) for s in final["subtasks"]
    ] == [
        ("x", "look it up", [], "done"),
        ("y", "sum it up", ["x"], "done"),
    ]
    prompts = [c["prompt"] for c in model.calls_by_role("worker")]
    assert any("look it up" in p for p in prompts) and not any("do a" in p for p in prompts)
    plan_events = [e for e in events if e["event"] == "plan"]
    assert len(plan_events) == 1 and plan_events[0]["reviewed"] is True
    assert [s["id"] for s in plan_events[0]["subtasks"]] == ["x", "y"]


async def test_invalid_edit_is_reported_and_the_plan_presented_again(scripted: Any) -> None:
    model = scripted(planner=plan_reply(sub("a")), worker=lambda m: "r")
    graph, cfg = reviewed_graph(model), config()
    await graph.ainvoke({"task": "t"}, cfg)
    bad = [
        {"id": "x", "description": "d", "capabilities": ["finance"]},
        {"id": "y", "description": "d", "capabilities": ["web"], "depends_on": ["zz"]},
    ]
    again = only_interrupt(
        await graph.ainvoke(Command(resume={"action": "edit", "subtasks": bad}), cfg)
    )
    assert again["subtasks"] == [sub("a")]
    assert again["error"].startswith("the edited plan is invalid:")
    assert "capability 'finance'" in again["error"] and "unknown id 'zz'" in again["error"]
    assert model.calls_by_role("worker") == []

    cyclic = [sub("p", "q"), sub("q", "p")]
    again = only_interrupt(
        await graph.ainvoke(Command(resume={"action": "edit", "subtasks": cyclic}), cfg)
    )
    assert "cycle" in again["error"]

    final = await graph.ainvoke(Command(resume={"action": "approve"}), cfg)
    assert [s["id"] for s in final["subtasks"]] == ["a"] and final["answer"]["complete"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("yes", "invalid plan review answer 'yes'"),
        (
            {"action": "aprove"},
            "does not match any of the expected tags: 'approve', 'edit', 'reject'",
        ),
        ({"action": "reject"}, "reject.feedback: Field required"),
        ({"action": "reject", "feedback": "   "}, "reject.feedback: String should have at least 1"),
        (
            {"action": "edit", "subtasks": [{"id": "x"}]},
            "edit.subtasks.0.description: Field required",
        ),
        ({"action": "approve", "subtasks": []}, "approve.subtasks: Extra inputs are not permitted"),
    ],
)
async def test_invalid_resume_value_re_interrupts_with_a_clear_error(
    scripted: Any, answer: Any, expected: str
) -> None:
    model = scripted(planner=plan_reply(sub("a")), worker=lambda m: "r")
    graph, cfg = reviewed_graph(model), config()
    await graph.ainvoke({"task": "t"}, cfg)
    again = only_interrupt(await graph.ainvoke(Command(resume=answer), cfg))
    assert expected in again["error"]
    assert again["error"].endswith('{"action": "reject", "feedback": "..."}')
    assert again["subtasks"] == [sub("a")]
    # The run is still paused at the review and accepts a corrected answer.
    final = await graph.ainvoke(Command(resume={"action": "approve"}), cfg)
    assert final["answer"]["complete"] is True


async def test_reject_replans_with_the_feedback(scripted: Any) -> None:
    plans = iter([plan_reply(sub("a")), plan_reply(sub("b1"), sub("b2"))])
    model = scripted(planner=lambda m: next(plans), worker=lambda m: "r")
    graph, cfg = reviewed_graph(model), config()
    await graph.ainvoke({"task": "t"}, cfg)
    second = only_interrupt(
        await graph.ainvoke(
            Command(resume={"action": "reject", "feedback": "split it in two"}), cfg
        )
    )
    assert [s["id"] for s in second["subtasks"]] == ["b1", "b2"] and second["error"] is None
    replan_prompt = model.calls_by_role("planner")[1]["prompt"]
    assert "A reviewer rejected the last plan with this feedback: split it in two" in replan_prompt
    assert '"id": "a"' in replan_prompt  # the planner sees what was rejected
    assert (await graph.aget_state(cfg)).values["plan_feedback"] is None

    final = await graph.ainvoke(Command(resume={"action": "approve"}), cfg)
    assert [s["id"] for s in final["subtasks"]] == ["b1", "b2"]
    assert final["answer"]["complete"] is True and model.calls_by_role("worker")


async def test_a_plan_that_cannot_be_made_skips_the_review(scripted: Any) -> None:
    model = scripted(planner=plan_reply(sub("a", caps=("telepathy",))))
    graph = reviewed_graph(model, max_plan_attempts=1, plan_fallback=False)
    final = await graph.ainvoke({"task": "t"}, config())
    assert "__interrupt__" not in final
    assert final["answer"]["text"].startswith("I could not complete this request")


async def test_review_without_a_checkpointer_says_what_to_do(scripted: Any) -> None:
    model = scripted(planner=plan_reply(sub("a")))
    graph = build_workforce_graph(
        model=model, workers=[spec("reasoning", "reasoning")], approve_plan=True
    ).compile()
    with pytest.raises(ValueError, match="needs a checkpointer"):
        await graph.ainvoke({"task": "t"})


def test_review_node_is_only_added_when_asked(scripted: Any) -> None:
    model = scripted()
    plain = build_workforce_graph(model=model, workers=[spec("reasoning", "reasoning")]).compile()
    assert "review_plan" not in plain.get_graph().nodes
    edges = {(e.source, e.target) for e in reviewed_graph(model).get_graph().edges}
    assert {
        ("planner", "review_plan"),
        ("review_plan", "coordinator"),
        ("review_plan", "planner"),
    } <= edges
    assert ("planner", "coordinator") not in edges


def test_parse_review_answer_accepts_the_three_shapes() -> None:
    assert parse_review_answer({"action": "approve"}).action == "approve"
    edit = parse_review_answer({"action": "edit", "subtasks": [sub("a")]})
    assert isinstance(edit, EditPlan) and edit.subtasks[0].capabilities == ["reasoning"]
    reject = parse_review_answer({"action": "reject", "feedback": "  shorter  "})
    assert isinstance(reject, RejectPlan) and reject.feedback == "shorter"
    with pytest.raises(ValueError, match="invalid plan review answer None"):
        parse_review_answer(None)


PAUSE_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
    from workforce_graph import WorkerSpec, build_workforce_graph
    from workforce_graph.testing import ScriptedChatModel, plan_reply

    async def main() -> None:
        model = ScriptedChatModel(responders={"planner": lambda m: plan_reply(
            {"id": "a", "description": "do a", "capabilities": ["reasoning"]})})
        worker = WorkerSpec(name="reasoning", description="r", capabilities=("reasoning",))
        async with AsyncSqliteSaver.from_conn_string(sys.argv[1]) as saver:
            graph = build_workforce_graph(model=model, workers=[worker], approve_plan=True)
            out = await graph.compile(checkpointer=saver).ainvoke(
                {"task": "persist me"}, {"configurable": {"thread_id": "paused"}})
        print(out["__interrupt__"][0].value["kind"])

    asyncio.run(main())
    """
)


async def test_paused_run_survives_a_process_exit(scripted: Any, tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    env = {**os.environ, "LANGGRAPH_STRICT_MSGPACK": "true", "PYTHONPATH": str(REPO)}
    paused = subprocess.run(
        [sys.executable, "-c", PAUSE_SCRIPT, str(db)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert paused.returncode == 0, paused.stderr[-2000:]
    assert paused.stdout.strip() == "plan_review"

    # A fresh process-like start: new model, new graph, new checkpointer on the same
    # file, reading only the types strict msgpack allows.
    model = scripted(worker=lambda m: "result a")
    cfg = {"configurable": {"thread_id": "paused"}}
    strict = JsonPlusSerializer(allowed_msgpack_modules=None)
    async with aiosqlite.connect(str(db)) as conn:
        saver = AsyncSqliteSaver(conn, serde=strict)
        graph = reviewed_graph(model, checkpointer=saver)
        state = await graph.aget_state(cfg)
        assert state.next == ("review_plan",)
        assert state.tasks[0].interrupts[0].value["task"] == "persist me"
        final = await graph.ainvoke(Command(resume={"action": "approve"}), cfg)
    assert final["answer"] == {"text": "the final answer", "complete": True, "failed": []}
    assert final["subtasks"][0]["result"] == "result a"
    assert model.calls_by_role("planner") == []


async def test_a_replan_is_reviewed_too_with_the_finished_work_shown(scripted: Any) -> None:
    plans = iter([plan_reply(sub("a"), sub("b")), plan_reply(sub("c", "a"))])
    model = scripted(
        planner=lambda m: next(plans),
        worker=lambda m: "FAILED: no data" if "Your subtask (b)" in str(m[-1].content) else "ok",
    )
    graph, cfg = reviewed_graph(model, max_retries=0), config()
    await graph.ainvoke({"task": "t"}, cfg)
    second = only_interrupt(await graph.ainvoke(Command(resume={"action": "approve"}), cfg))
    assert second["done"] == [sub("a")]
    assert second["subtasks"] == [sub("c", "a")]
    final = await graph.ainvoke(Command(resume={"action": "approve"}), cfg)
    assert [(s["id"], s["status"]) for s in final["subtasks"]] == [("a", "done"), ("c", "done")]
    assert final["replans"] == 1 and final["answer"]["complete"] is True
