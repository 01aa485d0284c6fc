"""The flow's pure functions: memory records and their budgeted rendering, repeated
failures, when turns end, and what the generator is given."""

from __future__ import annotations

import pytest

from workforce_graph.flow.memory import (
    KEPT_RESULT_CHARS,
    approx_tokens,
    failed_record,
    finished_record,
    record_verdict,
    render_memory,
    repeated_failures,
)
from workforce_graph.flow.state import FlowState, MemoryRecord, NextStep
from workforce_graph.flow.turns import decide_after_turn, generator_view


def next_step(turn: int, goal: str = "look it up", worker: str = "web") -> NextStep:
    return NextStep(
        turn=turn, sub_goal=goal, worker=worker, context="", justification="", error=None
    )


def ten_turns(result_chars: int) -> list[MemoryRecord]:
    memory: list[MemoryRecord] = []
    for turn in range(1, 11):
        if turn % 3 == 0:
            record = failed_record(next_step(turn), f"reason {turn} " + "r" * 2_000)
        else:
            record = finished_record(
                next_step(turn), f"result {turn} " + "x" * result_chars, tool_calls=2, seconds=1
            )
        memory = record_verdict([*memory, record], "continue", "more " * 300)
    return memory


@pytest.mark.parametrize("budget", [100, 300, 600, 2_000])
def test_rendering_stays_within_its_budget_at_turn_10(budget: int) -> None:
    text = render_memory(ten_turns(100_000), budget)
    assert approx_tokens(text) <= budget
    # The newest turn is always there, with its verdict.
    assert "Turn 10 · worker web" in text or "Turn 10 ·" in text


def test_newest_turns_in_full_older_condensed_oldest_summarised() -> None:
    text = render_memory(ten_turns(5_000), 600)
    lines = text.splitlines()
    assert lines[0].startswith("Turns 1-") and "(summarised)" in lines[0]
    assert "Turn 10 · worker web · done · 2 tool call(s)" in text
    assert "[cut: 5,009 characters in all]" in text  # a long result says how long it was
    assert "  Verifier: CONTINUE: more more" in text
    assert any(line.startswith("Turn ") and " · web · " in line for line in lines)  # condensed


def test_short_memory_is_shown_whole() -> None:
    memory = [finished_record(next_step(1), "42", tool_calls=0, seconds=0.1)]
    text = render_memory(record_verdict(memory, "stop", "that answers it"), 600)
    assert text == (
        "Turn 1 · worker web · done · 0 tool call(s)\n"
        "  Sub-goal: look it up\n"
        "  Result: 42\n"
        "  Verifier: STOP: that answers it"
    )
    assert render_memory([], 600) == "(no turns yet)"


def test_stored_results_are_bounded_with_a_note() -> None:
    record = finished_record(next_step(1), "y" * 50_000, tool_calls=0, seconds=0)
    assert len(record["result"]) == KEPT_RESULT_CHARS
    assert record["result"].endswith("[cut: 50,000 characters in all]")


def test_repeated_failures_name_the_action_failed_twice() -> None:
    memory = [
        failed_record(next_step(1, "Fetch the page"), "HTTP 404"),
        failed_record(next_step(2, "fetch  the page "), "HTTP 500"),
        failed_record(next_step(3, "fetch the page", worker="code"), "no network"),
        finished_record(next_step(4, "search"), "found", tool_calls=1, seconds=0),
    ]
    (note,) = repeated_failures(memory)
    assert "worker 'web' failed 2 times" in note and "HTTP 500" in note
    assert repeated_failures(memory[:1]) == []


def test_turns_end_on_stop_or_a_budget() -> None:
    def end(decision: str, turn: int, elapsed: float) -> tuple[object, object]:
        return decide_after_turn(
            decision,  # type: ignore[arg-type]
            turn=turn,
            max_turns=10,
            elapsed_s=elapsed,
            max_run_s=60,
        )

    assert end("stop", 10, 100) == ("verifier", None)
    assert end("continue", 3, 1) == (None, None)
    kind, reason = end("continue", 10, 1)
    assert kind == "max_turns" and "turn budget ran out (10 turns)" in str(reason)
    kind, reason = end("continue", 3, 61)
    assert kind == "time" and "time budget ran out (60 s" in str(reason)


def test_generator_view_keeps_finished_turns_and_the_stop_reason() -> None:
    memory = [
        failed_record(next_step(1), "no such page"),
        finished_record(next_step(2, "search"), "found it", tool_calls=1, seconds=0),
    ]
    state = FlowState(
        messages=[],
        task="q",
        memory=memory,
        stop="max_turns",
        stop_reason="the turn budget ran out",
    )
    view = generator_view(state)
    assert [(s["id"], s["status"]) for s in view["subtasks"]] == [
        ("t2", "done"),
        ("max_turns", "failed"),
    ]
    assert view["subtasks"][1]["failure_reason"] == "the turn budget ran out"
    complete = generator_view(FlowState(messages=[], task="q", memory=memory, stop="verifier"))
    assert [s["id"] for s in complete["subtasks"]] == ["t2"]
    empty = generator_view(FlowState(messages=[], task="q", memory=memory[:1], stop="verifier"))
    assert empty["subtasks"][-1]["failure_reason"] == "no turn produced a result"
