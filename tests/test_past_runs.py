"""The memory of past runs: records, retrieval, the planners' prompts, both topologies,
concurrent writers on one SQLite file, ``memory=False``, and evaluations."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from tests.conftest import spec
from tests.pg_server import PostgresUnavailable, postgres_dsn
from workforce_graph import WorkforceContext, build_workforce_graph
from workforce_graph.evaluation.datasets import EvalDataset, EvalTask
from workforce_graph.evaluation.graphs import GraphSpec
from workforce_graph.evaluation.runner import Evaluation
from workforce_graph.flow.graph import build_flow_graph
from workforce_graph.past_runs import (
    clear_records,
    find_record,
    flow_record,
    load_records,
    rank_similar,
    record_key,
    render_past_runs,
    score_records,
    workforce_record,
    write_record,
)
from workforce_graph.past_runs.retrieval import HEADER, approx_tokens
from workforce_graph.persistence import open_run_store
from workforce_graph.testing import ScriptedChatModel, plan_reply

FRANCE = "What is the population of France in 2020?"
SPAIN = "What is the population of Spain in 2020?"
POEM = "Write a short poem about autumn leaves."


def past_run(key: str, request: str, *, at: float, complete: bool = True) -> dict[str, Any]:
    return {
        "key": key,
        "thread_id": key,
        "topology": "workforce",
        "request": request,
        "steps": [
            {
                "id": "s1",
                "description": f"look up {request}",
                "capabilities": ["web_search"],
                "depends_on": [],
                "worker": "web",
                "status": "done" if complete else "failed",
                "failure_reason": None if complete else "the search found nothing",
                "failure_kind": None if complete else "gave_up",
            }
        ],
        "failed_plans": [],
        "failures": [],
        "complete": complete,
        "plan_fallback": False,
        "score": None,
        "finished_at": at,
    }


def planner_model(**responders: Any) -> ScriptedChatModel:
    return ScriptedChatModel(
        responders={
            "planner": plan_reply(
                {"id": "s1", "description": "look it up", "capabilities": ["reasoning"]}
            ),
            "generator": "the answer",
            **responders,
        }
    )


async def run(graph: Any, task: str, **kwargs: Any) -> dict[str, Any]:
    config = {"configurable": {"thread_id": uuid.uuid4().hex}}
    return dict(await graph.ainvoke({"task": task}, config, **kwargs))


# -- records -------------------------------------------------------------------------


def test_a_workforce_record_keeps_plan_outcomes_and_failures_but_no_results() -> None:
    state = {
        "task": FRANCE,
        "subtasks": [
            {
                "id": "s1",
                "description": "find it",
                "capabilities": ["web_search"],
                "depends_on": [],
                "worker": "web",
                "status": "done",
                "result": "SECRET RESULT 67 million",
                "failure_reason": None,
                "attempts": 1,
            },
            {
                "id": "s2",
                "description": "check it",
                "capabilities": ["reasoning"],
                "depends_on": ["s1"],
                "worker": "reasoning",
                "status": "failed",
                "result": None,
                "failure_reason": "the tool budget ran out",
                "failure_kind": "tool_budget",
                "attempts": 2,
            },
        ],
        "failed_plans": [{"subtasks": [], "reasons": ["s9 failed: no worker"]}],
        "answer": {
            "text": "SECRET ANSWER",
            "complete": False,
            "failed": [{"id": "s2", "reason": "the tool budget ran out", "kind": "tool_budget"}],
        },
    }
    record = workforce_record(state, thread_id="t1", now=5.0)
    assert record["key"] == record_key("t1", FRANCE) and record["request"] == FRANCE
    assert record["topology"] == "workforce" and record["complete"] is False
    assert [(s["id"], s["worker"], s["status"]) for s in record["steps"]] == [
        ("s1", "web", "done"),
        ("s2", "reasoning", "failed"),
    ]
    assert record["steps"][1]["failure_kind"] == "tool_budget"
    assert record["steps"][1]["depends_on"] == ["s1"]
    assert record["failed_plans"] == [["s9 failed: no worker"]]
    assert record["failures"][0]["kind"] == "tool_budget"
    assert record["score"] is None and record["finished_at"] == 5.0
    assert "SECRET" not in json.dumps(record)


def test_a_flow_record_keeps_each_turn_as_a_step() -> None:
    state = {
        "task": SPAIN,
        "memory": [
            {"turn": 1, "sub_goal": "search", "worker": "web", "status": "failed",
             "failure_reason": "no result", "result": ""},
            {"turn": 2, "sub_goal": "reason", "worker": "reasoning", "status": "done",
             "failure_reason": None, "result": "47 million"},
        ],
        "answer": {"text": "47 million", "complete": True, "failed": []},
    }  # fmt: skip
    record = flow_record(state, thread_id="t2", now=1.0)
    assert record["topology"] == "flow" and record["complete"] is True
    assert [(s["id"], s["worker"], s["status"]) for s in record["steps"]] == [
        ("t1", "web", "failed"),
        ("t2", "reasoning", "done"),
    ]
    assert "47 million" not in json.dumps(record)


# -- retrieval -------------------------------------------------------------------------


def test_retrieval_is_deterministic_ranked_and_bounded() -> None:
    records = [past_run(f"k{i:02d}", SPAIN, at=float(i % 3)) for i in range(12)]
    records += [past_run("poem", POEM, at=99.0), past_run("fr", FRANCE, at=50.0)]
    first = [(r["key"], s) for r, s in rank_similar(FRANCE, records)]
    assert first[0][0] == "fr"  # the same request ranks first
    assert len(first) == 3 and "poem" not in [k for k, _ in first]
    # Equal scores: the newer run first, then the smaller key; any input order.
    assert [k for k, _ in first][1:] == ["k02", "k05"]
    assert [(r["key"], s) for r, s in rank_similar(FRANCE, list(reversed(records)))] == first
    assert rank_similar("the of a", records) == [] and rank_similar(FRANCE, []) == []

    ranked = [r for r, _ in rank_similar(FRANCE, records)]
    text = render_past_runs(ranked, budget_tokens=400)
    assert text.startswith(HEADER) and FRANCE in text and "Plan that worked" in text
    assert approx_tokens(text) <= 400
    small = render_past_runs(ranked, budget_tokens=60)
    assert approx_tokens(small) <= 60 and small.startswith(HEADER)
    assert render_past_runs([], budget_tokens=400) == ""


def test_a_failed_past_run_is_shown_as_a_plan_to_avoid() -> None:
    text = render_past_runs([past_run("x", FRANCE, at=1.0, complete=False)], 400)
    assert "did not work (incomplete answer)" in text
    assert "FAILED: the search found nothing" in text


# -- the planners' prompts -------------------------------------------------------------


def planner_prompts(model: ScriptedChatModel) -> list[str]:
    return [c["prompt"] for c in model.calls_by_role("planner")]


async def test_the_planner_is_shown_a_similar_past_run_and_an_empty_memory_changes_nothing() -> (
    None
):
    store = InMemoryStore()
    with_store = planner_model()
    graph = build_workforce_graph(model=with_store, workers=[spec("reasoning", "reasoning")])
    compiled = graph.compile(checkpointer=InMemorySaver(), store=store)
    await run(compiled, FRANCE)
    await run(compiled, SPAIN)
    without = planner_model()
    plain = build_workforce_graph(model=without, workers=[spec("reasoning", "reasoning")])
    await run(plain.compile(checkpointer=InMemorySaver()), FRANCE)

    first, second = planner_prompts(with_store)
    assert first == planner_prompts(without)[0]  # an empty memory: the same prompt
    assert HEADER not in first
    assert HEADER in second and f"Request: {FRANCE}" in second
    assert "s1 [reasoning] by reasoning: look it up -> done" in second
    assert len(await load_records(store)) == 2


async def test_the_flow_writes_records_and_its_planner_sees_them() -> None:
    store = InMemoryStore()
    model = ScriptedChatModel(
        responders={
            "query_analysis": {"needs": "a number", "capabilities": ["reasoning"],
                               "answer_form": "a number"},
            "planner": {"justification": "j", "context": "", "sub_goal": "find the number",
                        "worker": "reasoning"},
            "worker": "47 million",
            "verifier": {"reason": "enough", "decision": "STOP"},
            "generator": "47 million",
        }
    )  # fmt: skip
    graph = build_flow_graph(model=model, workers=[spec("reasoning", "reasoning")])
    compiled = graph.compile(checkpointer=InMemorySaver(), store=store)
    await run(compiled, FRANCE)
    await run(compiled, SPAIN)
    [flow_spain, flow_france] = await load_records(store)
    assert (flow_france["request"], flow_france["topology"]) == (FRANCE, "flow")
    assert [(s["id"], s["worker"]) for s in flow_france["steps"]] == [("t1", "reasoning")]
    prompts = planner_prompts(model)
    assert HEADER not in prompts[0] and HEADER in prompts[1] and FRANCE in prompts[1]
    assert flow_spain["complete"] is True


async def test_memory_false_reads_and_writes_nothing() -> None:
    store = InMemoryStore()
    await write_record(store, past_run("fr", FRANCE, at=1.0))  # type: ignore[arg-type]
    model = planner_model()
    graph = build_workforce_graph(
        model=model, workers=[spec("reasoning", "reasoning")], memory=False
    ).compile(checkpointer=InMemorySaver(), store=store)
    await run(graph, SPAIN)
    on = build_workforce_graph(model=model, workers=[spec("reasoning", "reasoning")])
    compiled = on.compile(checkpointer=InMemorySaver(), store=store)
    await run(compiled, SPAIN, context=WorkforceContext(memory=False))  # per run
    assert [r["key"] for r in await load_records(store)] == ["fr"]
    assert all(HEADER not in p for p in planner_prompts(model))


async def test_a_failing_store_costs_the_run_nothing_but_an_event() -> None:
    class Broken(InMemoryStore):
        async def abatch(self, ops: Any) -> Any:
            raise OSError("disk gone")

    model = planner_model()
    graph = build_workforce_graph(model=model, workers=[spec("reasoning", "reasoning")])
    compiled = graph.compile(checkpointer=InMemorySaver(), store=Broken())
    events: list[dict[str, Any]] = []
    final: dict[str, Any] = {}
    config = {"configurable": {"thread_id": "t"}}
    async for mode, chunk in compiled.astream(
        {"task": FRANCE}, config, stream_mode=["custom", "values"]
    ):
        (events.append(chunk) if mode == "custom" else final.update(chunk))
    assert final["answer"]["complete"] is True
    errors = [e["error"] for e in events if e["event"] == "past_runs"]
    assert len(errors) == 2 and "disk gone" in errors[0] and "not kept" in errors[1]


# -- two writers on one SQLite file ------------------------------------------------------


def test_two_threads_writing_the_memory_at_once_both_keep_their_record(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.sqlite")
    barrier = threading.Barrier(2, timeout=60)
    errors: list[BaseException] = []

    def generator(messages: list[BaseMessage]) -> str:
        barrier.wait()  # both runs answer together, then both write their record
        return "the answer"

    def one(task: str) -> None:
        async def main() -> None:
            async with open_run_store(db) as opened:
                model = planner_model(generator=generator)
                graph = build_workforce_graph(
                    model=model, workers=[spec("reasoning", "reasoning")]
                ).compile(checkpointer=opened.checkpointer, store=opened.store)
                await run(graph, task)

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(t,)) for t in (FRANCE, SPAIN)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    async def read() -> list[str]:
        async with open_run_store(db) as opened:
            return sorted(r["request"] for r in await load_records(opened.store))

    assert asyncio.run(read()) == sorted([FRANCE, SPAIN])


# -- evaluations ------------------------------------------------------------------------


def evaluation(tmp_path: Path, model: ScriptedChatModel, db: Path, **options: Any) -> Evaluation:
    data = EvalDataset(
        name="qa",
        tasks=[EvalTask("fr", FRANCE, "67 million")],
        answer_format="FINAL ANSWER: x",
    )
    graph = GraphSpec(
        model_factory=lambda: model,
        workers_factory=lambda: [spec("reasoning", "reasoning")],
        options=options,
    )
    return Evaluation(data, graph, tmp_path / f"ev-{len(options)}", db=str(db))


async def seed(db: Path, *records: dict[str, Any]) -> None:
    async with open_run_store(str(db)) as opened:
        for record in records:
            await write_record(opened.store, record)  # type: ignore[arg-type]


async def keys(db: Path) -> list[str]:
    async with open_run_store(str(db)) as opened:
        return sorted(str(r["request"]) for r in await load_records(opened.store))


async def test_an_evaluation_sees_no_memory_unless_asked(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    await seed(db, past_run("fr", FRANCE, at=1.0), past_run("es", SPAIN, at=2.0))
    model = planner_model(generator="FINAL ANSWER: 67 million")
    summary = await evaluation(tmp_path, model, db).run()
    assert HEADER not in planner_prompts(model)[0]
    assert await keys(db) == sorted([FRANCE, SPAIN])  # nothing written either
    assert summary["memory"] == {"on": False}


async def test_with_memory_the_guard_withholds_past_runs_of_the_question(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.sqlite"
    await seed(db, past_run("fr", FRANCE, at=1.0), past_run("es", SPAIN, at=2.0))
    model = planner_model(generator="FINAL ANSWER: 67 million")
    ev = evaluation(tmp_path, model, db, memory=True)
    summary = await ev.run()
    [prompt] = planner_prompts(model)
    assert HEADER in prompt and f"Request: {SPAIN}" in prompt
    assert f"Request: {FRANCE}" not in prompt  # its own question: withheld, counted
    row = json.loads((ev.out_dir / "results.jsonl").read_text())
    assert row["withheld"] == 1 and row["correct"] is True
    assert summary["memory"] == {"on": True, "past_runs": 2, "questions_in_memory": 1}
    async with open_run_store(str(db)) as opened:
        scored = [r for r in await load_records(opened.store) if r["key"] not in ("fr", "es")]
    assert [(r["request"], r["score"]) for r in scored] == [(FRANCE, 1.0)]


@pytest.mark.parametrize("value", [True, False])
def test_graphspec_memory_is_only_on_when_asked(value: bool) -> None:
    assert GraphSpec(options={"memory": value}).memory is value
    assert GraphSpec().memory is False


# -- every --db kind ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_dsn() -> Iterator[str]:
    try:
        with postgres_dsn() as dsn:
            yield dsn
    except PostgresUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(str(exc))


@pytest.mark.parametrize("kind", ["sqlite", "postgres", "memory"])
async def test_the_run_database_keeps_past_runs_beside_the_checkpoints(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    db = {"sqlite": str(tmp_path / "runs.sqlite"), "memory": "memory"}.get(kind)
    db = db or str(request.getfixturevalue("pg_dsn"))
    async with open_run_store(db) as opened:
        await clear_records(opened.store)
        await write_record(opened.store, past_run("k-one", FRANCE, at=1.0))  # type: ignore[arg-type]
        await write_record(opened.store, past_run("k-two", SPAIN, at=2.0))  # type: ignore[arg-type]
        assert [r["key"] for r in await load_records(opened.store)] == ["k-two", "k-one"]
        assert (await find_record(opened.store, "k-o"))["request"] == FRANCE
        with pytest.raises(LookupError, match="ambiguous"):
            await find_record(opened.store, "k-")
        assert await score_records(opened.store, "k-one", 0.0) == 1
        assert (await find_record(opened.store, "k-one"))["score"] == 0.0
        assert await clear_records(opened.store) == 2
        assert await load_records(opened.store) == []
