"""Exports on hand-made trajectories: filters, pairs, advantage arithmetic, drops."""

from __future__ import annotations

import json
from typing import Any

import pytest

from workforce_graph.exports import dpo_rows, export, flow_grpo_rows, gaia_rows, sft_rows
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


def test_trajectory_files_round_trip_and_refuse_other_versions(tmp_path) -> None:
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
