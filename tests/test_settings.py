"""One declaration per setting: the factory, the run context and the CLI follow it."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import typer

from tests.conftest import run_graph, spec
from workforce_graph import WorkforceContext, WorkforceSettings, build_workforce_graph
from workforce_graph.cli.app import app
from workforce_graph.cli.options import setting_flag
from workforce_graph.cli.run_options import RunOptions
from workforce_graph.settings import setting_fields
from workforce_graph.testing import ScriptedChatModel, plan_reply

SETTINGS = [f.name for f, _ in setting_fields()]


def test_every_setting_is_a_factory_option_and_a_run_option() -> None:
    defaults = {f.name: f.default for f, _ in setting_fields()}
    build_workforce_graph(model=ScriptedChatModel(), workers=[spec("w", "x")], **defaults)
    context_fields = {f.name for f in dataclasses.fields(WorkforceContext)}
    assert set(SETTINGS) <= context_fields
    assert WorkforceSettings().overridden(WorkforceContext(**{SETTINGS[0]: 7})) == (
        dataclasses.replace(WorkforceSettings(), **{SETTINGS[0]: 7})
    )


def test_an_unknown_or_out_of_bounds_option_is_refused() -> None:
    with pytest.raises(TypeError, match="max_replan"):
        build_workforce_graph(model=ScriptedChatModel(), workers=[spec("w", "x")], max_replan=1)
    with pytest.raises(ValueError, match="max_concurrency must be >= 1"):
        build_workforce_graph(
            model=ScriptedChatModel(), workers=[spec("w", "x")], max_concurrency=0
        )


@pytest.mark.parametrize("command", ["run", "resume"])
def test_every_setting_is_a_cli_option_with_its_help(command: str) -> None:
    click_command = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    options = {p.name: p for p in click_command.params}
    for field, _ in setting_fields():
        assert field.name in options, field.name
        assert setting_flag(field) in options[field.name].opts
        assert field.metadata["help"] in (options[field.name].help or "")


def test_cli_settings_reach_the_run_context_and_old_records_still_load() -> None:
    options = RunOptions(settings={"max_subtasks": 3, "verify_results": True})
    context = options.context()
    assert context.max_subtasks == 3 and context.verify_results is True
    legacy = RunOptions.from_json({"max_replans": 1, "timeout_s": 9.0, "model": "m"})
    assert legacy.settings == {"max_replans": 1, "subtask_timeout_s": 9.0}


@pytest.mark.parametrize(
    ("override", "problem"),
    [({"max_subtasks": 1}, "at most 1 are allowed"), ({"max_plan_attempts": 1}, "after 1")],
)
async def test_plan_budgets_can_be_set_per_run(override: dict[str, Any], problem: str) -> None:
    model = ScriptedChatModel(
        responders={
            "planner": plan_reply(
                {"id": "a", "description": "a", "capabilities": ["x"]},
                {"id": "b", "description": "b", "capabilities": ["nope"]}
                if "max_plan_attempts" in override
                else {"id": "b", "description": "b", "capabilities": ["x"]},
            )
        }
    )
    graph = build_workforce_graph(model=model, workers=[spec("w", "x")]).compile()
    final = await graph.ainvoke(
        {"task": "t"}, context=WorkforceContext(**override, plan_fallback=False)
    )
    assert problem in final["error"]
    calls = len(model.calls_by_role("planner"))
    assert calls == (1 if "max_plan_attempts" in override else 3)


async def test_graph_defaults_apply_when_the_run_sets_nothing() -> None:
    model = ScriptedChatModel(
        responders={"planner": plan_reply({"id": "a", "description": "a", "capabilities": ["x"]})}
    )
    final, _ = await run_graph(model, workers=[spec("w", "x")], max_subtasks=1)
    assert final["answer"]["complete"]
