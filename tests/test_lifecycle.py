"""The subtask lifecycle's verbs, as pure functions."""

from __future__ import annotations

import pytest

from workforce_graph.failures import FailureKind
from workforce_graph.lifecycle import (
    NOT_RUN_IN_TIME,
    Outcome,
    PlannedSubtask,
    PlanValidationError,
    Subtask,
    apply_outcome,
    assign,
    blocked,
    decide,
    fail_unassignable,
    failed_outcome,
    is_ready,
    mark_dispatched,
    may_retry,
    pending_subtask,
    ready_subtasks,
    retry_failed,
    runnable_ids,
    time_budget_reason,
    unfinished,
    validate_plan,
)


def step(sid: str, *deps: str, caps: tuple[str, ...] = ("x",)) -> PlannedSubtask:
    return PlannedSubtask(
        id=sid, description=f"do {sid}", capabilities=list(caps), depends_on=list(deps)
    )


def sub(sid: str, *deps: str, status: str = "pending", worker: str | None = "w") -> Subtask:
    s = assign(pending_subtask(step(sid, *deps)), worker) if worker else pending_subtask(step(sid))
    return Subtask(**{**s, "depends_on": list(deps), "status": status})  # type: ignore[typeddict-item]


def done(result: str = "r", attempts: int = 1) -> Outcome:
    return Outcome(
        status="done", result=result, reason=None, attempts=attempts, seconds=0.1, usage={}
    )


def failed(reason: str = "busy", attempts: int = 1, kind: FailureKind = "gave_up") -> Outcome:
    return failed_outcome(reason, kind, attempts=attempts)


def test_a_valid_plan_passes_and_every_problem_is_listed() -> None:
    validate_plan([step("a"), step("b", "a")], offered_capabilities={"x"})
    with pytest.raises(PlanValidationError) as caught:
        validate_plan(
            [step("a", "ghost"), step("a"), step("c", caps=("nope",))],
            offered_capabilities={"x"},
            max_subtasks=2,
        )
    problems = caught.value.problems
    assert any("at most 2" in p for p in problems)
    assert any("'a' is used more than once" in p for p in problems)
    assert any("unknown id 'ghost'" in p for p in problems)
    assert any("'nope'" in p for p in problems)


def test_cycles_and_reused_finished_ids_are_refused() -> None:
    with pytest.raises(PlanValidationError, match="cycle"):
        validate_plan([step("a", "b"), step("b", "a")], offered_capabilities={"x"})
    with pytest.raises(PlanValidationError, match="already a finished subtask"):
        validate_plan([step("a")], offered_capabilities={"x"}, done_ids={"a"})
    validate_plan([step("b", "a")], offered_capabilities={"x"}, done_ids={"a"})


def test_ready_means_open_with_every_dependency_settled() -> None:
    a, b, c = sub("a", status="done"), sub("b", "a"), sub("c", "b")
    assert is_ready(b, {"a"}) and not is_ready(c, {"a"}) and not is_ready(a, {"a"})
    assert [s["id"] for s in ready_subtasks([a, b, c])] == ["b"]
    # Within a round, c waits on b instead of for the next round.
    assert runnable_ids([c, b, a]) == ["b", "c"]
    # Unassigned subtasks do not run, nor does anything waiting on them.
    assert runnable_ids([a, sub("b", "a", worker=None), c]) == []


def test_dispatch_marks_only_what_is_ready_now() -> None:
    marked = mark_dispatched([sub("a"), sub("b", "a"), sub("c", worker=None)])
    assert [s["status"] for s in marked] == ["running", "pending", "pending"]


def test_outcomes_change_the_subtask_without_touching_the_input() -> None:
    a = sub("a", status="running")
    finished = apply_outcome(a, done("42", attempts=2))
    assert finished["status"] == "done" and finished["result"] == "42"
    assert finished["attempts"] == 2 and a["status"] == "running" and a["attempts"] == 0
    lost = apply_outcome(a, failed("no data"))
    assert lost["status"] == "failed" and lost["failure_reason"] == "no data"
    assert apply_outcome(a, blocked("dependency x did not finish")) is a


def test_retries_are_bounded_by_attempts() -> None:
    once = apply_outcome(sub("a"), failed())
    twice = apply_outcome(apply_outcome(sub("b"), failed()), failed())
    assert may_retry(once, 1) and not may_retry(twice, 1) and not may_retry(once, 0)
    after, retried = retry_failed([once, twice], 1)
    assert [s["status"] for s in after] == ["pending", "failed"]
    assert [s["id"] for s in retried] == ["a"]


def test_an_unassignable_subtask_fails_with_an_attempt_counted() -> None:
    lost = fail_unassignable(sub("a", worker=None), "no available worker offers x")
    assert lost["status"] == "failed" and lost["attempts"] == 1


def test_decide_retries_then_replans_then_finishes() -> None:
    once = apply_outcome(sub("a"), failed("busy"))
    assert decide([once], replans=0, max_retries=1, max_replans=1).verdict == "dispatch"
    spent = apply_outcome(once, failed("busy"))
    decision = decide([spent], replans=0, max_retries=1, max_replans=1)
    assert decision.verdict == "replan" and decision.failed_plan is not None
    assert decision.failed_plan["reasons"] == ["subtask a (w) failed: busy"]
    assert decide([spent], replans=1, max_retries=1, max_replans=1).verdict == "finish"
    ok = apply_outcome(sub("a"), done())
    assert decide([ok, sub("b", "a")], replans=0, max_retries=1, max_replans=1).verdict == (
        "dispatch"
    )
    assert decide([ok], replans=0, max_retries=1, max_replans=1).verdict == "finish"


def test_decide_finishes_with_what_is_done_once_the_time_is_spent() -> None:
    ok = apply_outcome(sub("a"), done())
    once = apply_outcome(sub("b"), failed("busy"))
    waiting = [ok, once, sub("c", "a"), sub("d", "b")]
    # Within the budget the failure is retried; past it nothing more runs.
    assert (
        decide(waiting, replans=0, max_retries=1, max_replans=1, elapsed_s=9, max_run_s=10).verdict
        == "dispatch"
    )
    decision = decide(waiting, replans=0, max_retries=1, max_replans=1, elapsed_s=10, max_run_s=10)
    assert decision.verdict == "finish" and decision.retried == []
    assert decision.stop_reason == time_budget_reason(10, 10)
    assert "time budget ran out (10 s of 10.0 s spent)" in decision.stop_reason
    # The ready one could not run; the failed one keeps its reason; d waits on b.
    assert [(s["id"], s["status"], s["failure_reason"]) for s in decision.subtasks] == [
        ("a", "done", None),
        ("b", "failed", "busy"),
        ("c", "failed", NOT_RUN_IN_TIME),
        ("d", "pending", None),
    ]
    # Nothing left to do: the budget changes nothing.
    finished = decide([ok], replans=0, max_retries=1, max_replans=1, elapsed_s=99, max_run_s=10)
    assert finished.verdict == "finish" and finished.stop_reason is None


def test_an_unverified_result_is_kept_with_its_note_until_the_subtask_runs_again() -> None:
    checked_later = Outcome(
        status="done", result="r", reason=None, attempts=1, seconds=0.1, usage={},
        unverified="the model server returned HTTP 400",
    )  # fmt: skip
    kept = apply_outcome(sub("a"), checked_later)
    assert kept["status"] == "done" and kept.get("unverified") == checked_later["unverified"]
    assert "unverified" not in apply_outcome(kept, done())
    assert "unverified" not in apply_outcome(kept, failed())


def test_unfinished_lists_each_open_subtask_with_a_reason_and_its_kind() -> None:
    lost = apply_outcome(sub("a"), failed("no data", kind="tool_budget"))
    assert lost.get("failure_kind") == "tool_budget"
    assert unfinished([lost, sub("b", "a"), apply_outcome(sub("c"), done())]) == [
        {"id": "a", "reason": "no data", "kind": "tool_budget"},
        {"id": "b", "reason": "a subtask it depends on failed", "kind": "dependency"},
    ]
    assert "failure_kind" not in apply_outcome(lost, done())


def test_a_failure_recorded_before_kinds_is_listed_without_one() -> None:
    old = Subtask(**{**sub("a"), "status": "failed", "failure_reason": "x"})  # type: ignore[typeddict-item]
    assert unfinished([old]) == [{"id": "a", "reason": "x"}]


def test_the_time_budget_and_an_unassignable_subtask_set_their_kinds() -> None:
    stopped = decide([sub("a")], replans=0, max_retries=1, max_replans=1, elapsed_s=2, max_run_s=1)
    assert [s.get("failure_kind") for s in stopped.subtasks] == ["time_budget"]
    assert fail_unassignable(sub("b"), "no worker fits").get("failure_kind") == "no_worker"
