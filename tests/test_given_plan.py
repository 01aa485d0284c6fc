"""Plan and run as separate steps: a given plan, plan templates, ``plan`` and ``run --plan``.

The graph runs on scripted models; the CLI runs in this process against the fake
OpenAI-compatible server, whose log says which roles were called.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from langgraph.checkpoint.memory import InMemorySaver

from tests.conftest import run_graph, spec, subtask_id_of
from tests.fake_openai import FakeOpenAI
from tests.test_cli import (  # noqa: F401 (a fixture)
    assert_one_line_error,
    call,
    in_process_env,
    model_args,
)
from workforce_graph import build_workforce_graph
from workforce_graph.plan_template import (
    GivenPlanError,
    PlanTemplateError,
    escape_braces,
    given_plan,
    placeholders,
    plan_file,
    plan_file_schema,
)
from workforce_graph.testing import plan_reply


def step(
    sid: str, description: str = "", *deps: str, caps: tuple[str, ...] = ("reasoning",)
) -> dict[str, Any]:
    return {
        "id": sid,
        "description": description or f"do {sid}",
        "capabilities": list(caps),
        "depends_on": list(deps),
    }


def no_planner(messages: Any) -> Any:
    raise AssertionError("the planner was called for a given plan")


# -- the graph -----------------------------------------------------------------


async def test_a_given_plan_runs_without_the_planner(scripted: Any) -> None:
    model = scripted(planner=no_planner, worker=lambda m: f"result of {subtask_id_of(m)}")
    plan = {"subtasks": [step("a"), step("b", "use a", "a")]}
    final, events = await run_graph(model, inputs={"plan": plan})
    assert final["answer"]["complete"]
    assert [(s["id"], s["status"]) for s in final["subtasks"]] == [("a", "done"), ("b", "done")]
    planned = [e for e in events if e["event"] == "plan"]
    assert [e["source"] for e in planned] == ["given"] and planned[0]["attempt"] is None
    assert "planner" not in final["usage"] or final["usage"]["planner"]["calls"] == 0
    # Consumed: a replan or the thread's next run plans anew.
    assert final.get("plan") is None


async def test_a_planned_plan_says_its_source(scripted: Any) -> None:
    model = scripted(planner=lambda m: plan_reply(step("s1")), worker=lambda m: "ok")
    _, events = await run_graph(model)
    assert [e["source"] for e in events if e["event"] == "plan"] == ["planner"]


async def test_variables_fill_the_descriptions_and_braces_escape(scripted: Any) -> None:
    prompts: list[str] = []

    def worker(messages: Any) -> str:
        prompts.append("\n".join(str(m.content) for m in messages))
        return "done"

    model = scripted(planner=no_planner, worker=worker)
    plan = {"subtasks": [step("a", "Weather in {city} as {{json}}, {city} again")]}
    final, _ = await run_graph(model, inputs={"plan": plan, "variables": {"city": "Lyon"}})
    assert final["subtasks"][0]["description"] == "Weather in Lyon as {json}, Lyon again"
    assert "Weather in Lyon as {json}" in prompts[0]


async def test_an_invalid_given_plan_lists_every_problem_and_runs_nothing(scripted: Any) -> None:
    model = scripted(planner=no_planner, worker=lambda m: pytest.fail("a worker ran"))
    plan = {
        "subtasks": [
            step("a", "x", "ghost"),
            step("a", "y", caps=("telepathy",)),
        ]
    }
    with pytest.raises(GivenPlanError) as raised:
        await run_graph(model, inputs={"plan": plan})
    problems = raised.value.problems
    assert any("unknown id 'ghost'" in p for p in problems)
    assert any("'a' is used more than once" in p for p in problems)
    assert any("'telepathy'" in p for p in problems)
    assert str(raised.value).startswith("the given plan is invalid: ")


async def test_a_cyclic_or_oversized_given_plan_is_refused(scripted: Any) -> None:
    model = scripted(planner=no_planner, worker=lambda m: pytest.fail("a worker ran"))
    cycle = {"subtasks": [step("a", "", "b"), step("b", "", "a")]}
    with pytest.raises(GivenPlanError, match="cycle"):
        await run_graph(model, inputs={"plan": cycle})
    big = {"subtasks": [step(f"s{i}") for i in range(3)]}
    with pytest.raises(GivenPlanError, match="at most 2"):
        await run_graph(model, inputs={"plan": big}, max_subtasks=2)


def test_a_plan_of_the_wrong_shape_names_each_field() -> None:
    raw = {"subtasks": [{"id": "a", "description": "x", "depend_on": ["b"]}]}
    with pytest.raises(GivenPlanError) as raised:
        given_plan(raw, offered_capabilities={"reasoning"})
    assert any("capabilities" in p and "required" in p for p in raised.value.problems)
    assert any("depend_on" in p and "not permitted" in p for p in raised.value.problems)


async def test_a_failed_given_plan_is_replanned_unless_replans_are_off(scripted: Any) -> None:
    def worker(messages: Any) -> str:
        return "FAILED: no data" if subtask_id_of(messages) == "a" else "fine"

    model = scripted(planner=lambda m: plan_reply(step("s1")), worker=worker)
    plan = {"subtasks": [step("a")]}
    final, events = await run_graph(model, inputs={"plan": plan}, max_retries=0)
    assert [e["source"] for e in events if e["event"] == "plan"] == ["given", "planner"]
    assert final["answer"]["complete"] and final["replans"] == 1
    assert "no data" in model.calls_by_role("planner")[0]["prompt"]

    model = scripted(planner=no_planner, worker=worker)
    final, _ = await run_graph(model, inputs={"plan": plan}, max_retries=0, max_replans=0)
    assert not final["answer"]["complete"]
    assert final["answer"]["failed"][0]["id"] == "a"


async def test_the_next_run_on_the_thread_plans_again(scripted: Any) -> None:
    model = scripted(planner=lambda m: plan_reply(step("s1")), worker=lambda m: "ok")
    graph = build_workforce_graph(model=model, workers=[spec("reasoning", "reasoning")]).compile(
        checkpointer=InMemorySaver()
    )
    config = {"configurable": {"thread_id": uuid.uuid4().hex}}
    first = await graph.ainvoke({"task": "t1", "plan": {"subtasks": [step("a")]}}, config)
    assert [s["id"] for s in first["subtasks"]] == ["a"]
    second = await graph.ainvoke({"task": "t2"}, config)
    assert [s["id"] for s in second["subtasks"]] == ["s1"]
    assert len(model.calls_by_role("planner")) == 1


# -- templates -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({}, "no value for the plan's placeholder(s) city, day"),
        ({"city": "x", "day": "y", "extra": "z"}, "no placeholder for the variable(s) extra"),
        ({"city": "x", "zzz": "z"}, "placeholder(s) day; the plan has no placeholder for the"),
    ],
)
def test_missing_or_extra_variables_are_named(variables: dict[str, str], message: str) -> None:
    plan = {"subtasks": [step("a", "In {city}"), step("b", "On {day} in {city}")]}
    with pytest.raises(PlanTemplateError) as raised:
        given_plan(plan, variables, offered_capabilities={"reasoning"})
    assert message in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize("template", ["a {b", "a } b", "{x.__class__}", "{0}", "{}", "{x!r}"])
def test_only_plain_placeholders_are_accepted(template: str) -> None:
    with pytest.raises(PlanTemplateError, match="literal brace"):
        placeholders(template)


def test_a_written_plan_fills_back_to_itself() -> None:
    steps = [step("s1", 'Reply as {"a": 1} with {braces}'), step("s2", "then", "s1")]
    written = plan_file(steps)
    assert written["subtasks"][0]["description"] == escape_braces(steps[0]["description"])
    jsonschema.validate(written, plan_file_schema())
    filled = given_plan(json.loads(json.dumps(written)), offered_capabilities={"reasoning"})
    assert [s.model_dump() for s in filled] == steps


def test_the_schema_is_a_valid_json_schema() -> None:
    schema = plan_file_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"subtasks": [{"id": "a", "description": "x"}]}, schema)


def test_the_published_schema_is_the_one_in_use() -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    block = docs.split("The plan file's JSON Schema</summary>", 1)[1]
    published = block.split("```json\n", 1)[1].split("```", 1)[0]
    assert json.loads(published) == plan_file_schema()


# -- the command line ----------------------------------------------------------


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKFORCE_GRAPH_PLUGINS", "reasoning")
    monkeypatch.setenv("LANGSMITH_TRACING", "false")


@pytest.fixture
def fake() -> Any:
    plan = [step("s1", "Find the {facts}"), step("s2", "Write it up", "s1")]
    with FakeOpenAI(plan=plan, answer="Forty-two.") as server:
        yield server


def roles(server: FakeOpenAI) -> list[str]:
    """Roles of the calls made by the run (not the check that the model is served)."""
    return [c["role"] for c in server.calls() if c["messages"][-1].get("content") != "Say OK."]


@pytest.mark.usefixtures("in_process_env", "plugins")
def test_plan_then_run_the_plan(
    fake: FakeOpenAI, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "plan.json"
    code, out, err = call(
        capsys, "plan", "What is six times seven?", *model_args(fake), "-o", str(path)
    )
    assert code == 0, err
    assert out == "" and f"wrote {path}: 2 subtask(s)" in err
    assert roles(fake) == ["planner"]
    written = json.loads(path.read_text())
    assert written["subtasks"][0] == {
        "id": "s1",
        "description": "Find the {{facts}}",
        "capabilities": ["reasoning"],
        "depends_on": [],
    }
    jsonschema.validate(written, plan_file_schema())

    code, out, err = call(capsys, "plan", "What is six times seven?", *model_args(fake))
    assert code == 0, err
    assert json.loads(out) == written

    before = len(fake.calls("planner"))
    args = ["run", "What is six times seven?", *model_args(fake), "--plan", str(path)]
    code, out, err = call(capsys, *args, "--events")
    assert code == 0, err
    assert len(fake.calls("planner")) == before
    events = [json.loads(line) for line in out.splitlines()]
    plan_event = next(e for e in events if e["event"] == "plan")
    assert plan_event["source"] == "given"
    assert plan_event["subtasks"][0]["description"] == "Find the {facts}"
    assert events[-1]["event"] == "end" and events[-1]["exit_code"] == 0


@pytest.mark.usefixtures("in_process_env", "plugins")
def test_run_plan_with_variables(
    fake: FakeOpenAI, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"subtasks": [step("a", "Weather in {city}")]}))
    task = ["run", "the weather", *model_args(fake), "--plan", str(path)]
    code, out, err = call(capsys, *task, "--var", "city=Lyon", "--json")
    assert code == 0, err
    assert json.loads(out)["plan"][0]["description"] == "Weather in Lyon"
    assert "planner" not in roles(fake)

    code, _, err = call(capsys, *task)
    assert code == 2
    assert_one_line_error(err, "no value for the plan's placeholder(s) city", "--var")
    code, _, err = call(capsys, *task, "--var", "city=Lyon", "--var", "year=2025")
    assert code == 2
    assert_one_line_error(err, "no placeholder for the variable(s) year")
    code, _, err = call(capsys, *task, "--var", "city")
    assert code == 2
    assert_one_line_error(err, "--var 'city': write NAME=VALUE")


@pytest.mark.usefixtures("in_process_env", "plugins")
def test_an_invalid_plan_file_lists_every_error_and_runs_nothing(
    fake: FakeOpenAI, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(
        json.dumps({"subtasks": [step("a", "x", "ghost"), step("b", caps=("telepathy",))]})
    )
    code, _, err = call(capsys, "run", "t", *model_args(fake), "--plan", str(path))
    assert code == 2
    assert_one_line_error(err, "the given plan is invalid", "unknown id 'ghost'", "'telepathy'")
    assert fake.calls() == []
    path.write_text("{not json")
    code, _, err = call(capsys, "run", "t", *model_args(fake), "--plan", str(path))
    assert code == 2
    assert_one_line_error(err, "not valid JSON")
    code, _, err = call(capsys, "run", "t", "--plan", str(tmp_path / "missing.json"))
    assert code == 2
    assert_one_line_error(err, "cannot read it")
    code, _, err = call(capsys, "run", "t", "--var", "a=b")
    assert code == 2
    assert_one_line_error(err, "--var fills the placeholders of a plan")


@pytest.mark.usefixtures("in_process_env", "plugins")
@pytest.mark.parametrize("no_replan", [False, True])
def test_a_failed_given_plan_is_replanned_unless_no_replan(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_replan: bool
) -> None:
    def worker(messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
        text = json.dumps(messages)
        return "FAILED: no data" if "Your subtask (a)" in text else "fine"

    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"subtasks": [step("a")]}))
    with FakeOpenAI(responders={"worker": worker}) as server:
        args = ["run", "t", *model_args(server), "--plan", str(path), "--max-retries", "0"]
        code, out, err = call(capsys, *args, *(["--no-replan"] if no_replan else []), "--json")
        result = json.loads(out)
        if no_replan:
            assert code == 1, err
            assert "planner" not in roles(server) and result["replans"] == 0
        else:
            assert code == 0, err
            assert roles(server).count("planner") == 1 and result["replans"] == 1


@pytest.mark.usefixtures("in_process_env")
def test_plan_schema_prints_the_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call(capsys, "plan", "--schema")
    assert code == 0
    schema = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema == plan_file_schema()
    code, _, err = call(capsys, "plan")
    assert code == 2
    assert_one_line_error(err, "give the TASK to plan")
