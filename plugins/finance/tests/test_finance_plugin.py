"""The plugin as workforce-graph sees it: hook, entry point, registry and a routed run."""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import json
from pathlib import Path
from typing import Any

import pluggy
import pytest
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from workforce_graph_plugin_finance import plugin

import workforce_graph.hookspecs
from workforce_graph.workers import SubtaskContext, WorkerSpec

PRICES = "Date,Close\n2024-01-01,100\n2024-01-02,120\n2024-01-03,90\n2024-01-04,95\n"


def _registered(pm: pluggy.PluginManager) -> list[WorkerSpec]:
    workers: list[WorkerSpec] = []
    pm.hook.register_workers(register=workers.append)
    return workers


def test_plugin_registers_a_valid_worker_spec_through_pluggy() -> None:
    pm = pluggy.PluginManager("workforce_graph")
    pm.add_hookspecs(workforce_graph.hookspecs)
    pm.register(plugin, name="finance")
    (spec,) = _registered(pm)
    assert spec.name == "finance"
    assert spec.available
    assert set(spec.capabilities) == {"finance", "time_value_of_money", "portfolio_analytics"}
    card = spec.card()
    assert [t["name"] for t in card["tools"]] == [
        "npv",
        "irr",
        "loan_amortisation",
        "price_returns",
        "price_volatility",
        "sharpe_ratio",
        "max_drawdown",
    ]
    assert card["limitations"] and card["examples"]
    json.dumps(card)  # the planner sees it as JSON

    pm.unregister(name="finance")
    assert _registered(pm) == []


def test_registry_gains_finance_and_loses_it_with_nothing_else_changed() -> None:
    plugins = pytest.importorskip("workforce_graph.plugins")
    pm, _ = plugins.new_plugin_manager(load_entry_points=False)
    before = plugins.collect_workers(pm)
    assert "finance" not in before.workers
    pm.register(plugin, name="finance")
    with_finance = plugins.collect_workers(pm)
    assert with_finance.workers["finance"].plugin == "finance"
    assert "portfolio_analytics" in with_finance.offered_capabilities()
    assert not [p for p in with_finance.problems if p.plugin == "finance"]
    pm.unregister(name="finance")
    after = plugins.collect_workers(pm)
    assert after.cards(include_unavailable=True) == before.cards(include_unavailable=True)


def _installed() -> bool:
    try:
        importlib.metadata.distribution("workforce-graph-plugin-finance")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(not _installed(), reason="pip install plugins/finance first")
def test_entry_point_loads_the_plugin_and_the_env_var_can_exclude_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plugins = pytest.importorskip("workforce_graph.plugins")
    (ep,) = [
        e for e in importlib.metadata.entry_points(group="workforce_graph") if e.name == "finance"
    ]
    assert ep.load() is plugin
    monkeypatch.delenv("WORKFORCE_GRAPH_PLUGINS", raising=False)
    pm, problems = plugins.new_plugin_manager()
    assert not [p for p in problems if p.plugin == "finance"]
    assert "finance" in plugins.collect_workers(pm).workers
    monkeypatch.setenv("WORKFORCE_GRAPH_PLUGINS", "reasoning")
    pm, _ = plugins.new_plugin_manager()
    assert "finance" not in plugins.collect_workers(pm).workers
    monkeypatch.setenv("WORKFORCE_GRAPH_PLUGINS", "reasoning, finance")
    pm, _ = plugins.new_plugin_manager()
    assert "finance" in plugins.collect_workers(pm).workers


def _analyst(messages: list[BaseMessage]) -> AIMessage | str:
    """A worker model that calls max_drawdown once, then reports the tool's figure."""
    results = [m for m in messages if isinstance(m, ToolMessage)]
    if not results:
        call = {"name": "max_drawdown", "args": {"csv_file": "prices.csv"}, "id": "c1"}
        return AIMessage("", tool_calls=[call])
    if results[-1].status == "error":
        return f"FAILED: {results[-1].content}"
    out = json.loads(str(results[-1].content))
    return f"Maximum drawdown {out['max_drawdown_percent']} from {out['peak']['date']}"


def test_worker_runtime_runs_the_finance_tools(tmp_path: Path) -> None:
    runtime = pytest.importorskip("workforce_graph.worker_runtime")
    testing = pytest.importorskip("workforce_graph.testing")
    csv = tmp_path / "prices.csv"
    csv.write_text(PRICES, encoding="utf-8")
    model = testing.ScriptedChatModel(responders={"worker": _analyst})

    def context(*attachments: Path) -> SubtaskContext:
        return SubtaskContext(
            request="Max drawdown of prices.csv?",
            subtask_id="s1",
            description="Compute the maximum drawdown of prices.csv",
            capabilities=["portfolio_analytics"],
            dependency_results={},
            attachments=[str(a) for a in attachments],
        )

    done = asyncio.run(runtime.run_worker(plugin.FINANCE_WORKER, model, context(csv)))
    assert done["status"] == "done", done
    assert done["result"] == "Maximum drawdown 25.0000% from 2024-01-02"
    assert done["tool_calls"] == 1
    # An attached file that is gone ends the subtask with the tool's reason.
    failed = asyncio.run(
        runtime.run_worker(plugin.FINANCE_WORKER, model, context(tmp_path / "nope" / "prices.csv"))
    )
    assert failed["status"] == "failed"
    assert "cannot read prices.csv" in (failed["reason"] or "")


def test_coordinator_routes_a_finance_subtask_to_the_plugin(tmp_path: Path) -> None:
    graph_mod = pytest.importorskip("workforce_graph.graph")
    plugins = pytest.importorskip("workforce_graph.plugins")
    testing = pytest.importorskip("workforce_graph.testing")
    csv = tmp_path / "prices.csv"
    csv.write_text(PRICES, encoding="utf-8")
    pm, _ = plugins.new_plugin_manager(load_entry_points=False)
    pm.register(plugin, name="finance")
    plan = testing.plan_reply(
        {
            "id": "drawdown",
            "description": "Compute the maximum drawdown of the attached prices.csv",
            "capabilities": ["portfolio_analytics"],
        }
    )

    def generator(messages: list[BaseMessage]) -> str:
        return "Answer: " + str(messages[-1].content)[-200:]

    model = testing.ScriptedChatModel(
        responders={"planner": plan, "worker": _analyst, "generator": generator}
    )
    graph = graph_mod.build_workforce_graph(model=model, plugin_manager=pm).compile()
    state: dict[str, Any] = asyncio.run(
        graph.ainvoke({"task": "What was the worst drawdown?", "attachments": [str(csv)]})
    )
    (subtask,) = state["subtasks"]
    assert subtask["worker"] == "finance"
    assert subtask["status"] == "done", subtask
    assert "25.0000%" in (subtask["result"] or "")
    assert [t.name for t in model.bound_tools][-1] == "max_drawdown"


def test_its_own_example_on_an_attached_csv_is_answered_complete(tmp_path: Path) -> None:
    """ "Maximum drawdown of the attached prices.csv" is read by the finance worker, so the
    answer carries no "no available worker reads attached files" note."""
    assert plugin.FINANCE_WORKER.reads_attachments
    assert plugin.FINANCE_WORKER.card()["reads_attachments"] is True
    graph_mod = pytest.importorskip("workforce_graph.graph")
    plugins = pytest.importorskip("workforce_graph.plugins")
    testing = pytest.importorskip("workforce_graph.testing")
    csv = tmp_path / "prices.csv"
    csv.write_text(PRICES, encoding="utf-8")
    # Only the reasoning worker and finance: no documents worker reads the file here.
    pm, _ = plugins.new_plugin_manager(load_entry_points=False, load_defaults=False)
    pm.register(importlib.import_module("workforce_graph.default_plugins.reasoning"), "reasoning")
    pm.register(plugin, name="finance")
    plan = testing.plan_reply(
        {
            "id": "drawdown",
            "description": "Compute the maximum drawdown of the attached prices.csv",
            "capabilities": ["portfolio_analytics"],
        }
    )
    model = testing.ScriptedChatModel(
        responders={
            "planner": plan,
            "worker": _analyst,
            "generator": lambda m: "The maximum drawdown is 25%.",
        }
    )
    graph = graph_mod.build_workforce_graph(model=model, plugin_manager=pm).compile()
    state: dict[str, Any] = asyncio.run(
        graph.ainvoke(
            {"task": "Maximum drawdown of the attached prices.csv", "attachments": [str(csv)]}
        )
    )
    assert state["subtasks"][0]["worker"] == "finance"
    assert state["answer"]["complete"], state["answer"]
    assert state["answer"]["failed"] == []
    assert "reads attached files" not in state["answer"]["text"]
