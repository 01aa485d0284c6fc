"""Rerun from a subtask: ``lifecycle.reopen``, ``rerun_from`` and ``workforce-graph rerun``.

The graph runs on scripted models with an in-memory checkpointer; the CLI runs in this
process against the fake OpenAI-compatible server with an SQLite run store.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from tests.conftest import spec, subtask_id_of
from tests.fake_openai import FakeOpenAI
from tests.test_cli import (
    assert_one_line_error,
    cli,
    cli_env,  # noqa: F401 (a fixture)
    model_args,
)
from workforce_graph import build_workforce_graph, rerun_from
from workforce_graph.lifecycle import (
    PlannedSubtask,
    Subtask,
    UnknownSubtaskError,
    apply_outcome,
    assign,
    pending_subtask,
    reopen,
)
from workforce_graph.testing import plan_reply

# s1 -> s2 -> s3, and s4 on its own.
PLAN: list[dict[str, Any]] = [
    {"id": "s1", "description": "do s1", "capabilities": ["reasoning"]},
    {"id": "s2", "description": "do s2", "capabilities": ["reasoning"], "depends_on": ["s1"]},
    {"id": "s3", "description": "do s3", "capabilities": ["reasoning"], "depends_on": ["s2"]},
    {"id": "s4", "description": "do s4", "capabilities": ["reasoning"]},
]


def finished(step: dict[str, Any]) -> Subtask:
    subtask = assign(pending_subtask(PlannedSubtask(**step)), "reasoning")
    done = apply_outcome(
        subtask,
        {
            "status": "done",
            "result": f"result of {step['id']}",
            "reason": None,
            "attempts": 2,
            "seconds": 0.1,
            "usage": {},
            "unverified": "no check",
        },
    )
    return done


# -- the lifecycle -------------------------------------------------------------


def test_reopen_resets_the_subtask_and_its_dependants_only() -> None:
    subtasks = [finished(step) for step in PLAN]
    after = reopen(subtasks, "s2")
    by_id = {s["id"]: s for s in after}
    for sid in ("s2", "s3"):
        assert by_id[sid] == pending_subtask(PlannedSubtask(**PLAN[int(sid[1]) - 1]))
    assert by_id["s1"] is subtasks[0] and by_id["s4"] is subtasks[3]
    assert [s["id"] for s in after] == ["s1", "s2", "s3", "s4"]
    # Pure: the input is unchanged.
    assert subtasks[1]["status"] == "done"


def test_reopen_replaces_the_description_of_that_subtask_only() -> None:
    after = reopen([finished(step) for step in PLAN], "s2", description="do s2 better")
    assert [s["description"] for s in after] == ["do s1", "do s2 better", "do s3", "do s4"]


def test_reopen_an_unknown_id_names_the_ids_there_are() -> None:
    with pytest.raises(UnknownSubtaskError, match=r"no subtask 's9'.*s1, s2, s3, s4"):
        reopen([finished(step) for step in PLAN], "s9")


# -- the graph -----------------------------------------------------------------


async def test_rerun_from_runs_the_subtask_and_its_dependants_without_planning(
    scripted: Any,
) -> None:
    planner_calls: list[int] = []
    worker_calls: Counter[str] = Counter()
    answers = iter(["the first answer", "the second answer"])

    def planner(messages: Any) -> Any:
        planner_calls.append(1)
        return plan_reply(*PLAN)

    def worker(messages: Any) -> str:
        sid = subtask_id_of(messages)
        worker_calls[sid] += 1
        return f"result {worker_calls[sid]} of {sid}"

    model = scripted(planner=planner, worker=worker, generator=lambda m: next(answers))
    graph = build_workforce_graph(model=model, workers=[spec("reasoning", "reasoning")]).compile(
        checkpointer=InMemorySaver()
    )
    config: Any = {"configurable": {"thread_id": uuid.uuid4().hex}}
    first = await graph.ainvoke({"task": "the task"}, config)
    assert first["answer"]["text"] == "the first answer"
    before = {s["id"]: s for s in first["subtasks"]}

    branch = await rerun_from(graph, config, "s2", description="do s2 again")
    state = await graph.aget_state(branch)
    assert state.next == ("coordinator",)
    second = await graph.ainvoke(None, branch)

    assert len(planner_calls) == 1
    assert worker_calls == {"s1": 1, "s2": 2, "s3": 2, "s4": 1}
    after = {s["id"]: s for s in second["subtasks"]}
    assert after["s1"] == before["s1"] and after["s4"] == before["s4"]
    assert after["s2"]["result"] == "result 2 of s2" and after["s3"]["result"] == "result 2 of s3"
    assert after["s2"]["description"] == "do s2 again"
    assert second["answer"]["text"] == "the second answer"
    # The old answer's message is replaced, not left as an earlier reply.
    texts = [m.content for m in second["messages"] if m.type == "ai"]
    assert texts == ["the second answer"]
    # The old branch is still in the thread's history.
    history = [s async for s in graph.aget_state_history(config)]
    old_answers = {(s.values.get("answer") or {}).get("text") for s in history}
    assert {"the first answer", "the second answer"} <= old_answers


async def test_rerun_from_an_unknown_subtask_or_thread_is_a_clear_error(scripted: Any) -> None:
    model = scripted(planner=lambda m: plan_reply(*PLAN))
    graph = build_workforce_graph(model=model, workers=[spec("reasoning", "reasoning")]).compile(
        checkpointer=InMemorySaver()
    )
    config: Any = {"configurable": {"thread_id": uuid.uuid4().hex}}
    await graph.ainvoke({"task": "the task"}, config)
    with pytest.raises(UnknownSubtaskError, match="no subtask 's9'"):
        await rerun_from(graph, config, "s9")
    with pytest.raises(LookupError, match="no plan"):
        await rerun_from(graph, {"configurable": {"thread_id": "nosuchthread"}}, "s1")


# -- the CLI -------------------------------------------------------------------


def test_cli_rerun_prints_the_new_answer(cli_env: dict[str, str]) -> None:  # noqa: F811
    # Subprocesses: the OpenAI client caches its HTTP client per process, bound to the
    # first command's event loop, so two commands cannot share one process here.
    with FakeOpenAI(plan=PLAN, answer="Forty-two.") as fake:
        done = cli(cli_env, "run", "the task", *model_args(fake), "--json")
        assert done.returncode == 0, done.stderr
        thread_id = json.loads(done.stdout)["thread_id"]

        done = cli(cli_env, "rerun", thread_id[:8], "--from", "s2", "--description", "redo s2")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "Forty-two."
        assert len(fake.calls("planner")) == 1 and len(fake.calls("generator")) == 2
        ran = Counter(c["subtask_id"] for c in fake.calls("worker"))
        assert ran == {"s1": 1, "s2": 2, "s3": 2, "s4": 1}
        assert "redo s2" in json.dumps(fake.calls("worker")[-2:])

        # show: the new branch; the old one by the checkpoint the rerun named.
        shown = json.loads(cli(cli_env, "show", thread_id, "--json").stdout)
        assert shown["plan"][1]["description"] == "redo s2" and shown["status"] == "answered"
        hint = done.stderr.split("earlier branch: workforce-graph show ")[1].split()
        assert hint[:2] == [thread_id, "--checkpoint"]
        old = cli(cli_env, "show", thread_id, "--checkpoint", hint[2], "--json")
        assert old.returncode == 0, old.stderr
        earlier = json.loads(old.stdout)
        assert earlier["plan"][1]["description"] == "do s2"
        assert earlier["answer"] == "Forty-two." and earlier["status"] == "answered"

        # Errors are caught before any model call.
        for args, fragment in (
            (["rerun", thread_id, "--from", "s9"], "no subtask 's9'"),
            (["rerun", "nosuchthread", "--from", "s1"], "nosuchthread"),
            (["show", thread_id, "--checkpoint", "nosuchcheckpoint"], "nosuchcheckpoint"),
        ):
            done = cli(cli_env, *args)
            assert done.returncode == 2
            assert_one_line_error(done.stderr, fragment)
