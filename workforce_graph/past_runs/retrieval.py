"""Which past runs a planner is shown, and how: BM25 over their requests, bounded text.

Offline and deterministic: the ranking is BM25 (the ``bm25s`` package, numpy only)
over the past requests; ties go to the newer run, then to the smaller key, so the same
records and request always give the same text. Only runs sharing a word with the
request are shown, at most :data:`SHOWN_RUNS`, and the text stays within a token bound
(estimated at four characters a token): a run that does not fit is left out whole,
except the first, which is cut.

Example:
    >>> runs = [{"key": "a", "request": "population of France", "finished_at": 1.0,
    ...          "steps": [], "complete": True, "score": None, "failures": [],
    ...          "failed_plans": []}]
    >>> [r["key"] for r, _ in rank_similar("population of Spain", runs)]
    ['a']
    >>> rank_similar("the", runs)
    []
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from workforce_graph.bounds import bound
from workforce_graph.past_runs.record import worked

__all__ = ["HEADER", "SHOWN_RUNS", "approx_tokens", "rank_similar", "render_past_runs"]

SHOWN_RUNS = 3
"""At most this many past runs in a prompt."""
HEADER = (
    "Similar requests planned before (keep what worked, avoid what failed; plan this "
    "request for itself):"
)
_REQUEST_CHARS = 300
_STEP_CHARS = 160
_REASON_CHARS = 160
_TOKEN_PATTERN = r"(?u)\b\w+\b"
"""Words of one character too: numbers such as ``7`` tell requests apart."""


def approx_tokens(text: str) -> int:
    """Tokens of ``text``, estimated at four characters a token (no tokenizer needed)."""
    return (len(text) + 3) // 4


def _tokens(texts: list[str]) -> list[list[str]]:
    import bm25s

    tokens: list[list[str]] = bm25s.tokenize(
        texts,
        stopwords="en",
        token_pattern=_TOKEN_PATTERN,
        return_ids=False,
        show_progress=False,
    )
    return tokens


def rank_similar(
    request: str, records: Sequence[Mapping[str, Any]], *, limit: int = SHOWN_RUNS
) -> list[tuple[Mapping[str, Any], float]]:
    """The records most similar to ``request``, best first, with their BM25 scores.

    A record shares at least one word (stop words aside) with the request; equal scores
    go to the newer run (``finished_at``), then to the smaller ``key``.
    """
    if not records or limit <= 0:
        return []
    query = _tokens([request])[0]
    if not query:
        return []
    import bm25s

    retriever = bm25s.BM25()
    retriever.index(_tokens([str(r.get("request") or "") for r in records]), show_progress=False)
    scores = retriever.get_scores(query)
    scored = [(round(float(s), 6), r) for s, r in zip(scores, records, strict=True) if s > 0]
    scored.sort(key=lambda p: (-p[0], -float(p[1].get("finished_at") or 0), str(p[1]["key"])))
    return [(r, s) for s, r in scored[:limit]]


def _line(text: Any, limit: int) -> str:
    return bound(" ".join(str(text or "").split()), limit)


def _step(step: Mapping[str, Any]) -> str:
    tags = f" [{', '.join(step['capabilities'])}]" if step.get("capabilities") else ""
    after = f" after {', '.join(step['depends_on'])}" if step.get("depends_on") else ""
    worker = f" by {step['worker']}" if step.get("worker") else ""
    head = f"{step['id']}{tags}{worker}{after}: {_line(step.get('description'), _STEP_CHARS)}"
    if step.get("status") == "failed":
        return f"{head} -> FAILED: {_line(step.get('failure_reason'), _REASON_CHARS)}"
    return f"{head} -> {step.get('status')}"


def _outcome(record: Mapping[str, Any]) -> str:
    score = record.get("score")
    scored = "" if score is None else (", scored right" if score >= 1.0 else ", scored wrong")
    if worked(record):
        return f"worked (complete answer{scored})"
    if record.get("complete"):
        return f"did not work (complete answer{scored})"
    return f"did not work (incomplete answer{scored})"


def _render_one(record: Mapping[str, Any]) -> str:
    lines = [
        f"- Request: {_line(record.get('request'), _REQUEST_CHARS)}",
        f"  Outcome: {_outcome(record)}",
    ]
    if record.get("plan_fallback"):
        lines.append("  No valid plan was made; the request ran as one subtask.")
    steps = record.get("steps") or []
    if steps:
        label = "Plan that worked" if worked(record) else "Plan that did not work"
        lines.append(f"  {label}:")
        lines += [f"    {_step(s)}" for s in steps]
    for reasons in record.get("failed_plans") or []:
        lines.append("  An earlier plan was given up: " + "; ".join(_line(r, 120) for r in reasons))
    failed_ids = {s["id"] for s in steps if s.get("status") == "failed"}
    for failure in record.get("failures") or []:
        if failure.get("id") not in failed_ids:
            lines.append(f"  Failed ({failure.get('id')}): {_line(failure.get('reason'), 160)}")
    return "\n".join(lines)


def render_past_runs(records: Sequence[Mapping[str, Any]], budget_tokens: int) -> str:
    """``records`` (best first) as prompt text of at most ``budget_tokens`` (estimated);
    ``""`` when there are none, so a prompt without past runs is unchanged."""
    if not records:
        return ""
    budget = budget_tokens * 4
    text = HEADER
    for index, record in enumerate(records):
        block = _render_one(record)
        if len(text) + 1 + len(block) <= budget:
            text += "\n" + block
        elif index == 0:
            text = bound(text + "\n" + block, budget)
        else:
            break
    return text
