"""The flow's memory: typed turn records and their rendering within a token budget.

AgentFlow pastes every tool result into every later prompt (results of 100,000
characters included), so its planner prompt grows without bound. Here the memory keeps
typed records and renders them for a prompt within ``budget_tokens``: the newest turns
in full (long results cut, with a note saying how much), older turns condensed to one
line, the oldest summarised in one line. Everything here is a pure function.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from workforce_graph.flow.state import Decision, MemoryRecord, NextStep

__all__ = [
    "KEPT_RESULT_CHARS",
    "approx_tokens",
    "cut",
    "failed_record",
    "finished_record",
    "record_verdict",
    "render_memory",
    "repeated_failures",
]

KEPT_RESULT_CHARS = 8_000
"""A result is stored up to this size (the generator reads it); the rest is noted."""
FULL_RESULT_CHARS = 1_200
"""A result shown in full in a prompt is cut here."""
_CONDENSED_CHARS = 80
_FULL_SHARE = 0.7
"""Share of the budget the turns shown in full may use; the rest is for older turns."""


def approx_tokens(text: str) -> int:
    """Tokens of ``text``, estimated at four characters a token (no tokenizer needed)."""
    return (len(text) + 3) // 4


def cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, saying how much was left out."""
    text = text.strip()
    if len(text) <= limit:
        return text
    note = f" [cut: {len(text):,} characters in all]"
    keep = max(0, limit - len(note))
    return text[:keep].rstrip() + note


def _line(text: str, limit: int) -> str:
    return cut(" ".join(text.split()), limit)


def finished_record(
    step: NextStep, result: str, *, tool_calls: int, seconds: float
) -> MemoryRecord:
    """The record of a turn whose worker returned a result."""
    return MemoryRecord(
        turn=step["turn"],
        sub_goal=step["sub_goal"],
        worker=step["worker"],
        status="done",
        tool_calls=tool_calls,
        result=cut(result, KEPT_RESULT_CHARS),
        failure_reason=None,
        verdict=None,
        feedback=None,
        seconds=round(seconds, 3),
    )


def failed_record(
    step: NextStep, reason: str, *, tool_calls: int = 0, seconds: float = 0.0
) -> MemoryRecord:
    """The record of a turn that failed: no usable step, no such worker, a worker failure."""
    return MemoryRecord(
        turn=step["turn"],
        sub_goal=step["sub_goal"],
        worker=step["worker"],
        status="failed",
        tool_calls=tool_calls,
        result="",
        failure_reason=cut(reason, 1_000),
        verdict=None,
        feedback=None,
        seconds=round(seconds, 3),
    )


def record_verdict(
    memory: Sequence[MemoryRecord], decision: Decision, feedback: str
) -> list[MemoryRecord]:
    """The memory with the verifier's decision and feedback on its newest record."""
    if not memory:
        return []
    last = MemoryRecord(**memory[-1])
    last["verdict"] = decision
    last["feedback"] = feedback
    return [*memory[:-1], last]


def _action(record: MemoryRecord) -> tuple[str, str]:
    return record["worker"], " ".join(record["sub_goal"].lower().split())


def repeated_failures(memory: Sequence[MemoryRecord]) -> list[str]:
    """One sentence per action (same worker, same sub-goal) that failed twice or more.

    AgentFlow's untrained planner repeats a failing step; naming it in the verifier's
    feedback tells the planner to change course.
    """
    failed = [r for r in memory if r["status"] == "failed"]
    counts = Counter(_action(r) for r in failed)
    notes = []
    for (worker, _), count in counts.items():
        if count < 2:
            continue
        last = next(r for r in reversed(failed) if _action(r) == (worker, _))
        goal = _line(last["sub_goal"], 120)
        reason = _line(last["failure_reason"] or "", 160)
        notes.append(
            f"Repeated failure: worker {worker!r} failed {count} times on the sub-goal "
            f"{goal!r} (last reason: {reason}). "
            "Do not repeat it: choose another worker or another sub-goal."
        )
    return notes


def _verdict_line(record: MemoryRecord, limit: int) -> str:
    if record["verdict"] is None:
        return ""
    text = f"\n  Verifier: {record['verdict'].upper()}"
    if record["feedback"]:
        text += f": {_line(record['feedback'], limit)}"
    return text


def _full(record: MemoryRecord, room: int = 4_000) -> str:
    """A record in full, its texts cut to fit about ``room`` characters."""
    head = f"Turn {record['turn']} · worker {record['worker'] or '(none)'} · "
    if record["status"] == "done":
        head += f"done · {record['tool_calls']} tool call(s)"
        body = f"\n  Result: {cut(record['result'], min(FULL_RESULT_CHARS, room * 2 // 5))}"
    else:
        head += "FAILED"
        failure = _line(record["failure_reason"] or "unknown", min(500, room // 4))
        body = f"\n  Failure: {failure}"
    return (
        f"{head}\n  Sub-goal: {_line(record['sub_goal'], min(300, room // 5))}{body}"
        f"{_verdict_line(record, min(700, room // 4))}"
    )


def _condensed(record: MemoryRecord) -> str:
    outcome = (
        f"done → {_line(record['result'], _CONDENSED_CHARS)}"
        if record["status"] == "done"
        else f"FAILED → {_line(record['failure_reason'] or '', _CONDENSED_CHARS)}"
    )
    return (
        f"Turn {record['turn']} · {record['worker'] or '(none)'} · "
        f"{_line(record['sub_goal'], 60)} · {outcome}"
    )


def _summary(records: Sequence[MemoryRecord]) -> str:
    done = sum(r["status"] == "done" for r in records)
    workers = sorted({r["worker"] for r in records if r["worker"]})
    return (
        f"Turns {records[0]['turn']}-{records[-1]['turn']} (summarised): {done} done, "
        f"{len(records) - done} failed; workers: {', '.join(workers) or 'none'}."
    )


def render_memory(memory: Sequence[MemoryRecord], budget_tokens: int) -> str:
    """The memory as prompt text of at most ``budget_tokens`` (estimated) tokens.

    Args:
        memory: The records, oldest first.
        budget_tokens: The most the text may take.

    Returns:
        Chronological text: a summary of the oldest turns, one line for each older
        turn, the newest turns in full.

    Example:
        >>> render_memory([], 500)
        '(no turns yet)'
    """
    if not memory:
        return "(no turns yet)"
    budget = budget_tokens * 4
    full: list[str] = []
    used = 0
    for record in reversed(memory):
        text = _full(record)
        if not full:
            # The newest turn is always shown in full: the planner must see what just happened.
            room = int(budget * _FULL_SHARE)
            shrink = 4_000
            while len(text) > room and shrink > 40:
                shrink //= 2
                text = _full(record, shrink)
        elif used + len(text) + 1 > budget * _FULL_SHARE:
            break
        full.append(text)
        used += len(text) + 1
    older = list(memory[: len(memory) - len(full)])
    # Room kept for the summary line of whatever stays older (it is short: counts, names).
    summary_room = len(_summary(older)) + 1 if older else 0
    condensed: list[str] = []
    while older:
        line = _condensed(older[-1])
        if used + len(line) + 1 + (summary_room if len(older) > 1 else 0) > budget:
            break
        condensed.append(line)
        used += len(line) + 1
        older.pop()
    parts = ([_summary(older)] if older else []) + condensed[::-1] + full[::-1]
    text = "\n".join(parts)
    if len(text) <= budget:
        return text
    # Guarantee the bound whatever the records hold, keeping the newest end.
    note = "[earlier memory cut] "
    return note + text[len(text) - max(0, budget - len(note)) :]
