"""The table of topologies: every entry builds, takes its roles' models, and is what the
CLI, the evaluation and the training offer."""

from __future__ import annotations

import re
from typing import get_args

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from typer.testing import CliRunner

import workforce_graph
from tests.conftest import spec
from workforce_graph.cli.app import app
from workforce_graph.cli.options import ROLE_OPTIONS, TopologyName
from workforce_graph.cli.run_options import RunOptions, build_graph, topology_role_models
from workforce_graph.evaluation.graphs import GraphSpec
from workforce_graph.models import ModelSet
from workforce_graph.testing import ScriptedChatModel
from workforce_graph.topologies import (
    DEFAULT_TOPOLOGY,
    TOPOLOGIES,
    Role,
    UnknownTopology,
    get_topology,
)
from workforce_graph.training.flow_loop import FlowGrpoLoop


@pytest.mark.parametrize("name", list(TOPOLOGIES))
def test_every_topology_builds_with_a_model_for_each_of_its_roles(name: str) -> None:
    topology = TOPOLOGIES[name]
    model = ScriptedChatModel()
    graph = topology.factory(
        model=model,
        role_models=dict.fromkeys(topology.roles, model),
        workers=[spec("reasoning", "reasoning")],
    ).compile(checkpointer=InMemorySaver())
    assert graph.get_graph().nodes
    ModelSet(roles=dict.fromkeys(topology.roles, "local"))  # no role refused


def test_the_roles_type_is_the_union_of_the_topologies_roles() -> None:
    declared = {role for topology in TOPOLOGIES.values() for role in topology.roles}
    assert set(get_args(Role)) == declared


def test_the_flow_takes_the_worker_model_as_its_executor() -> None:
    flow = TOPOLOGIES["flow"]
    assert flow.own_role("worker") == "executor"
    assert flow.own_role("coordinator") is None
    options = RunOptions(topology="flow", role_models={"worker": "w", "planner": "p"})
    assert topology_role_models(options) == {"executor": "w", "planner": "p"}


def test_a_role_the_topology_lacks_is_refused_with_its_option() -> None:
    from workforce_graph.cli.errors import CliError

    with pytest.raises(CliError, match="--coordinator-model: the flow topology has no"):
        topology_role_models(RunOptions(topology="flow", role_models={"coordinator": "x"}))
    with pytest.raises(CliError, match="--query-analysis-model: the workforce topology"):
        topology_role_models(RunOptions(role_models={"query_analysis": "x"}))


def test_build_graph_reads_the_table() -> None:
    model = ScriptedChatModel()
    for name, topology in TOPOLOGIES.items():
        options = RunOptions(topology=name)
        models = dict.fromkeys(topology.roles, model)
        assert build_graph(options, InMemorySaver(), models).get_graph().nodes
        if not topology.plan_review:
            with pytest.raises(Exception, match="--approve-plan"):
                build_graph(RunOptions(topology=name, approve_plan=True), InMemorySaver())


def test_an_unknown_topology_is_one_line_naming_the_known_ones() -> None:
    with pytest.raises(UnknownTopology) as raised:
        get_topology("dag")
    message = str(raised.value)
    assert "\n" not in message
    assert all(name in message for name in TOPOLOGIES)
    with pytest.raises(ValueError, match="unknown topology 'dag'"):
        GraphSpec(topology="dag")
    with pytest.raises(ValueError, match="unknown topology 'dag'"):
        FlowGrpoLoop(topology="dag")


def test_the_training_loop_gives_max_turns_only_to_a_turn_by_turn_topology() -> None:
    for name, topology in TOPOLOGIES.items():
        options = FlowGrpoLoop(topology=name, max_turns=2).options_of_graph()
        assert ("max_turns" in options) == topology.turn_by_turn


def test_the_cli_offers_the_tables_topologies_and_roles() -> None:
    assert [choice.value for choice in TopologyName] == list(TOPOLOGIES)
    assert TopologyName(DEFAULT_TOPOLOGY).value == DEFAULT_TOPOLOGY
    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    shown = re.search(r"--topology\s+<([^>]+)>", result.output)
    assert shown is not None and shown.group(1).split("|") == list(TOPOLOGIES)
    for role in ROLE_OPTIONS:
        assert f"--{role.replace('_', '-')}-model" in result.output
    # Every role is set by an option, directly or through an alias.
    for topology in TOPOLOGIES.values():
        reached = {topology.own_role(role) for role in ROLE_OPTIONS}
        assert set(topology.roles) <= reached


def test_an_unknown_topology_exits_2_in_the_cli() -> None:
    result = CliRunner().invoke(app, ["graph", "--topology", "dag"])
    assert result.exit_code == 2
    assert all(name in result.output for name in TOPOLOGIES)


def test_the_table_is_public() -> None:
    assert workforce_graph.TOPOLOGIES is TOPOLOGIES
    assert {"TOPOLOGIES", "TopologySpec"} <= set(workforce_graph.__all__)
