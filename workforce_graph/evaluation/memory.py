"""An evaluation with the memory of past runs (``eval --memory``): what the memory held
of the evaluated questions before it started, and each run's score on its record.

Without ``--memory`` an evaluation's graphs have no store: no past run is read or
written. With it, every run's record gets its score, and the leakage guard withholds
from each run the past runs of its own question (see
:mod:`workforce_graph.evaluation.leakage`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langgraph.store.base import BaseStore

from workforce_graph.evaluation.leakage import leaked_questions
from workforce_graph.past_runs import load_records, record_text, score_records

__all__ = ["memory_at_start", "score_record"]


async def memory_at_start(store: BaseStore, questions: Iterable[str]) -> dict[str, Any]:
    """How many past runs the memory holds, and how many of ``questions`` occur in them
    (each is withheld from its own runs by the leakage guard)."""
    records = await load_records(store)
    rows = [{"text": record_text(r)} for r in records]
    return {
        "past_runs": len(records),
        "questions_in_memory": len(leaked_questions(rows, list(questions))),
    }


async def score_record(graph: Any, thread_id: str, score: float) -> None:
    """Give the records of a run (its thread) the evaluation's ``score``, when its
    ``graph`` keeps past runs (was compiled with a store)."""
    store = getattr(graph, "store", None)
    if store is not None:
        await score_records(store, thread_id, score)
