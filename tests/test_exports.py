"""Exports on hand-made trajectories: filters, pairs, advantage arithmetic, drops."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli import assert_one_line_error, in_process_env  # noqa: F401
from tests.test_cli import call as cli
from workforce_graph.exports import (
    ExportError,
    dpo_rows,
    export,
    flow_grpo_rows,
    gaia_rows,
    sft_rows,
)
from workforce_graph.trajectory import (
    ModelCall,
    Outcome,
    Trajectory,
    TrajectoryFormatError,
    append_trajectory,
    read_trajectories,
)

PROMPT = [{"role": "system", "content": "You are the planner"}, {"role": "user", "content": "Q"}]


def call(index: int, plan: str, *, role: str = "planner", step: int = 1, **kw: Any) -> ModelCall:
    return ModelCall(
        index=index,
        role=role,
        node=role,
        step=step,
        messages=kw.pop("messages", PROMPT),
        text=json.dumps({"plan": plan}),
        parsed={"plan": plan},
        latency_s=0.01,
        **kw,
    )


def traj(tid: str, group: str, score: float | None, calls: list[ModelCall]) -> Trajectory:
    return Trajectory(
        trajectory_id=tid,
        group_id=group,
        question="Q",
        calls=calls,
        answer="FINAL ANSWER: 4",
        outcome=None if score is None else Outcome(score=score, expected="4"),
        meta={"task_id": group, "sample": int(tid[-1]) if tid[-1].isdigit() else 0},
    )


def test_sft_keeps_decisions_of_scored_trajectories_only() -> None:
    repaired = [call(0, "bad"), call(1, "good"), call(2, "answer", role="generator")]
    result = sft_rows(
        [
            traj("t1", "g", 1.0, repaired),
            traj("t2", "g", 0.0, [call(0, "x")]),
            traj("t3", "g", None, []),
        ]
    )
    # The repair's rejected first call is not a decision; the generator is not the planner.
    assert [row["completion"][0]["content"] for row in result.rows] == ['{"plan": "good"}']
    assert result.rows[0]["prompt"] == PROMPT
    assert result.rows[0]["meta"]["trajectory_id"] == "t1"
    assert result.dropped == {"trajectory below min score": 1, "unscored trajectory": 1}


def test_dpo_pairs_correct_and_wrong_outputs_for_the_same_prompt() -> None:
    other_prompt = [*PROMPT[:1], {"role": "user", "content": "other"}]
    result = dpo_rows(
        [
            traj("a1", "g1", 1.0, [call(0, "right")]),
            traj("a2", "g1", 0.0, [call(0, "wrong")]),
            traj("a3", "g1", 0.0, [call(0, "wrong too")]),
            traj("a4", "g1", 0.0, [call(0, "elsewhere", messages=other_prompt)]),
            traj("b1", "g2", 1.0, [call(0, "fine")]),
            traj("b2", "g2", 1.0, [call(0, "fine too")]),
        ]
    )
    pairs = {(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in result.rows}
    assert pairs == {
        ('{"plan": "right"}', '{"plan": "wrong"}'),
        ('{"plan": "right"}', '{"plan": "wrong too"}'),
    }
    assert all(r["prompt"] == PROMPT for r in result.rows)
    assert result.dropped["group without a correct and a wrong output for one prompt"] == 1


def test_flow_grpo_normalises_over_trajectories_by_default() -> None:
    three_turns = [call(i, f"t{i}", turn=i, step=i) for i in range(3)]
    group = [
        traj("r1", "g", 1.0, three_turns),
        traj("r2", "g", 0.0, [call(0, "x", turn=0)]),
        traj("r3", "g", 0.0, [call(0, "y", turn=0)]),
    ]
    rows = flow_grpo_rows(group).rows
    assert [(r["trajectory_id"], r["turn"], r["reward"]) for r in rows] == [
        ("r1", 0, 1.0),
        ("r1", 1, 1.0),
        ("r1", 2, 1.0),
        ("r2", 0, 0.0),
        ("r3", 0, 0.0),
    ]
    # Over trajectories: rewards 1, 0, 0 -> mean 1/3, sample std 0.57735.
    assert [round(r["advantage"], 3) for r in rows] == [1.155] * 3 + [-0.577] * 2
    # Over turns (AgentFlow's code): rewards 1, 1, 1, 0, 0 -> mean 0.6, std 0.54772.
    turns = flow_grpo_rows(group, normalise="turns").rows
    assert [round(r["advantage"], 3) for r in turns] == [0.730] * 3 + [-1.095] * 2
    assert rows[0]["prompt"] == PROMPT and rows[0]["completion"][0]["role"] == "assistant"


def test_flow_grpo_drops_and_counts_groups_whose_rewards_do_not_vary() -> None:
    result = flow_grpo_rows(
        [
            traj("s1", "same", 1.0, [call(0, "a"), call(1, "b", step=2)]),
            traj("s2", "same", 1.0, [call(0, "c")]),
            traj("v1", "varied", 1.0, [call(0, "d")]),
            traj("v2", "varied", 0.0, [call(0, "e")]),
            traj("u1", "varied", None, [call(0, "f")]),
        ]
    )
    assert {r["group_id"] for r in result.rows} == {"varied"}
    assert result.dropped["group with rewards that do not vary"] == 1
    assert result.dropped["row in a group with rewards that do not vary"] == 3
    assert result.dropped["unscored trajectory"] == 1
    with pytest.raises(ValueError, match="normalise"):
        flow_grpo_rows([], normalise="rows")  # type: ignore[arg-type]


def test_gaia_submission_takes_the_final_answer_of_the_first_sample() -> None:
    first = traj("x0", "task-1", 1.0, [call(0, "p")])
    second = traj("x1", "task-1", 0.0, [call(0, "p")])
    second.answer = "FINAL ANSWER: 5"
    result = gaia_rows([second, first, traj("y0", "task-2", None, [])])
    by_id = {r["task_id"]: r for r in result.rows}
    assert by_id["task-1"]["model_answer"] == "4"
    assert set(by_id) == {"task-1", "task-2"}
    assert "[planner]" in by_id["task-1"]["reasoning_trace"]
    assert export("gaia", [first]).rows == gaia_rows([first]).rows


def test_trajectory_files_round_trip_and_refuse_other_versions(tmp_path: Path) -> None:
    path = tmp_path / "trajectories.jsonl"
    original = traj("r1", "g", 1.0, [call(0, "a")])
    append_trajectory(path, original)
    assert list(read_trajectories([tmp_path])) == [original]
    data = json.loads(path.read_text())
    data["version"] = 99
    path.write_text(json.dumps(data) + "\n")
    with pytest.raises(TrajectoryFormatError, match=r"trajectories.jsonl:1: trajectory version 99"):
        list(read_trajectories([path]))
    path.write_text('{"question": "q"}\n')
    with pytest.raises(TrajectoryFormatError, match="not a workforce-graph/trajectory line"):
        list(read_trajectories([path]))


# --- no row is an outcome that says why, and runs of different systems never mix ------


def on(topology: str, t: Trajectory, model: str | None = None) -> Trajectory:
    """``t`` as run by ``topology``, its calls recorded with ``model``."""
    t.topology = topology
    for c in t.calls:
        c.model = model
    return t


def write_runs(path: Path, *runs: Trajectory) -> Path:
    for run in runs:
        append_trajectory(path / "trajectories.jsonl", run)
    return path


def test_sft_without_a_qualifying_run_says_why_and_what_to_try() -> None:
    result = sft_rows(
        [
            traj("w1", "g", 0.0, [call(0, "a")]),
            traj("w2", "g", 0.0, [call(0, "b")]),
            traj("u1", "g", None, []),
        ]
    )
    assert result.rows == [] and result.stats["trajectories"] == 3
    assert result.empty_reason is not None
    assert "of 3 trajectories read, 2 scored below --min-score 1, 1 had no score" in (
        result.empty_reason
    )
    assert "lower --min-score" in result.empty_reason
    assert "--samples" in result.empty_reason and "--temperature" in result.empty_reason
    assert sft_rows([traj("r1", "g", 1.0, [call(0, "a")])]).empty_reason is None


def test_dpo_and_flow_grpo_without_a_row_say_why() -> None:
    alike = [traj("a1", "g1", 0.0, [call(0, "x")]), traj("a2", "g1", 0.0, [call(0, "y")])]
    dpo = dpo_rows(alike)
    assert dpo.rows == [] and dpo.empty_reason is not None
    assert dpo.empty_reason.startswith("no task had both a right and a wrong planner output")
    assert "1 only runs below it" in dpo.empty_reason and "--samples" in dpo.empty_reason
    # Greedy runs: right and wrong with the same plan give no pair, and the line says so.
    same = [traj("s1", "g", 1.0, [call(0, "p")]), traj("s2", "g", 0.0, [call(0, "p")])]
    assert "1 gave identical outputs" in str(dpo_rows(same).empty_reason)
    grpo = flow_grpo_rows([*alike, traj("b1", "g2", 1.0, [call(0, "z")])])
    assert grpo.rows == [] and grpo.empty_reason is not None
    assert "every group (task, topology, planner model) had equal rewards" in grpo.empty_reason
    assert "2 groups, 1 with one scored run, 1 all 0" in grpo.empty_reason


@pytest.mark.usefixtures("in_process_env")
@pytest.mark.parametrize(
    ("kind", "fragment"),
    [
        ("sft", "2 scored below --min-score 1"),
        ("dpo", "no task had both a right and a wrong planner output"),
        ("flow-grpo", "had equal rewards"),
    ],
)
def test_export_of_no_row_exits_2_in_one_line_and_writes_no_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str, fragment: str
) -> None:
    runs = write_runs(
        tmp_path / "ev",
        traj("w1", "g", 0.0, [call(0, "a")]),
        traj("w2", "g", 0.0, [call(0, "b")]),
    )
    out = tmp_path / "rows.jsonl"
    code, _, err = cli(capsys, "export", kind, str(runs), "-o", str(out))
    assert code == 2
    assert_one_line_error(err, f"no {kind} row, nothing written to {out}", fragment, "--samples")
    assert not out.exists()


def test_dpo_and_flow_grpo_group_by_topology_and_planner_model() -> None:
    # The same task, one right Workforce run and one wrong flow run sharing a prompt:
    # different policies, so no pair and no advantage between them.
    mixed = [
        on("workforce", traj("w1", "t", 1.0, [call(0, "dag")])),
        on("flow", traj("f1", "t", 0.0, [call(0, "step")])),
    ]
    dpo = dpo_rows(mixed)
    assert dpo.rows == []
    assert dpo.stats["groups_by_topology"] == {"flow": 1, "workforce": 1}
    assert flow_grpo_rows(mixed).rows == []
    # A base planner's and a trained planner's runs of one task are not samples either.
    models = [
        on("workforce", traj("b1", "t", 1.0, [call(0, "p")]), "base"),
        on("workforce", traj("b2", "t", 0.0, [call(0, "q")]), "trained"),
    ]
    assert dpo_rows(models).rows == [] and flow_grpo_rows(models).rows == []
    # Within one system the samples still pair, and rows say which system made them.
    both = [
        *mixed,
        on("flow", traj("f2", "t", 1.0, [call(0, "other step")])),
        on("workforce", traj("w2", "t", 0.0, [call(0, "bad dag")])),
    ]
    pairs = dpo_rows(both)
    assert {(r["meta"]["topology"], r["chosen"][0]["content"]) for r in pairs.rows} == {
        ("workforce", '{"plan": "dag"}'),
        ("flow", '{"plan": "other step"}'),
    }
    assert pairs.stats["pairs_by_topology"] == {"flow": 1, "workforce": 1}
    grpo = flow_grpo_rows(both)
    assert {(r["topology"], r["trajectory_id"], round(r["advantage"], 3)) for r in grpo.rows} == {
        ("workforce", "w1", 0.707),
        ("workforce", "w2", -0.707),
        ("flow", "f2", 0.707),
        ("flow", "f1", -0.707),
    }
    assert grpo.stats["groups_by_topology"] == {"flow": 1, "workforce": 1}


@pytest.mark.usefixtures("in_process_env")
def test_export_summary_says_how_many_groups_per_topology(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    runs = write_runs(
        tmp_path / "ev",
        on("workforce", traj("w1", "t", 1.0, [call(0, "dag")])),
        on("workforce", traj("w2", "t", 0.0, [call(0, "bad dag")])),
        on("flow", traj("f1", "t", 1.0, [call(0, "step")])),
    )
    code, _, err = cli(capsys, "export", "dpo", str(runs), "-o", str(tmp_path / "d.jsonl"))
    assert code == 0, err
    assert "groups (task, topology, planner model) by topology: 1 flow, 1 workforce" in err


def test_a_run_without_a_planner_call_joins_its_topology_s_one_model() -> None:
    cut_off = on("flow", traj("f0", "t", 0.0, []))
    runs = [on("flow", traj("f1", "t", 1.0, [call(0, "step")]), "m"), cut_off]
    rewards = flow_grpo_rows(runs)
    # In the same group as f1 (its rewards vary), counted there though it has no turn.
    assert [r["trajectory_id"] for r in rewards.rows] == ["f1"]
    assert rewards.stats["groups"] == 1


def test_gaia_refuses_runs_of_two_topologies_unless_prefer_picks_one() -> None:
    workforce = on("workforce", traj("w0", "task-1", 1.0, [call(0, "p")]), "local")
    flow = on("flow", traj("f0", "task-1", 0.0, [call(0, "p")]), "local")
    flow.answer = "FINAL ANSWER: 5"
    with pytest.raises(ExportError, match="2 systems") as refused:
        gaia_rows([workforce, flow])
    assert "flow/local (1 tasks), workforce/local (1 tasks)" in str(refused.value)
    assert "--prefer flow" in str(refused.value)
    chosen = gaia_rows([workforce, flow], prefer="flow")
    assert [(r["task_id"], r["model_answer"]) for r in chosen.rows] == [("task-1", "5")]
    assert chosen.dropped == {"run of another system than --prefer flow": 1}
    assert chosen.stats["system"] == "flow/local"
    assert gaia_rows([workforce, flow], prefer="workforce/local").rows[0]["model_answer"] == "4"


def test_gaia_refuses_runs_of_two_planner_models_and_an_unknown_prefer() -> None:
    base = on("workforce", traj("b0", "task-1", 1.0, [call(0, "p")]), "local")
    trained = on("workforce", traj("t0", "task-1", 0.0, [call(0, "p")]), "hf:trained")
    with pytest.raises(ExportError, match="--prefer workforce/hf:trained"):
        gaia_rows([base, trained])
    assert gaia_rows([base, trained], prefer="hf:trained").stats["system"] == (
        "workforce/hf:trained"
    )
    with pytest.raises(ExportError, match="--prefer workforce names 2 of the systems"):
        gaia_rows([base, trained], prefer="workforce")
    with pytest.raises(ExportError, match="--prefer flow names none"):
        gaia_rows([base], prefer="flow")


@pytest.mark.usefixtures("in_process_env")
def test_gaia_export_of_mixed_systems_is_one_line_and_prefer_writes_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    flow = on("flow", traj("f0", "task-1", 0.0, [call(0, "p")]), "local")
    flow.answer = "FINAL ANSWER: 5"
    runs = write_runs(
        tmp_path / "ev", on("workforce", traj("w0", "task-1", 1.0, [call(0, "p")]), "local"), flow
    )
    out = tmp_path / "submission.jsonl"
    code, _, err = cli(capsys, "export", "gaia", str(runs), "-o", str(out))
    assert code == 2
    assert_one_line_error(err, "2 systems", "--prefer")
    assert not out.exists()
    code, _, err = cli(capsys, "export", "gaia", str(runs), "-o", str(out), "--prefer", "flow")
    assert code == 0, err
    assert [json.loads(line)["model_answer"] for line in out.read_text().splitlines()] == ["5"]
    code, _, err = cli(capsys, "export", "sft", str(runs), "-o", str(out), "--prefer", "flow")
    assert code == 2 and "--prefer" in err
