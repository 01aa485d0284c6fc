"""A memory of past runs: each finished run is kept as a record in a LangGraph store,
and a planner is shown the few most similar past requests, with the plans that worked
and the failures to avoid, within a token bound.

Not the flow's memory (:mod:`workforce_graph.flow.memory`), which is the turns of one
run. The package is split by concept: :mod:`.record` (a finished state to a record,
pure), :mod:`.retrieval` (BM25 ranking and the bounded prompt text, pure), :mod:`.store`
(reading and writing a ``BaseStore``) and :mod:`.nodes` (what the graphs' planners and
generators do with it).

Example:
    >>> from langgraph.store.memory import InMemoryStore
    >>> graph = build_workforce_graph().compile(
    ...     checkpointer=saver, store=InMemoryStore())  # doctest: +SKIP
"""

from __future__ import annotations

from workforce_graph.past_runs.nodes import PAST_RUN_URL, recall, remembering, without_withheld
from workforce_graph.past_runs.record import (
    PastRun,
    PastStep,
    flow_record,
    record_key,
    record_text,
    worked,
    workforce_record,
)
from workforce_graph.past_runs.retrieval import SHOWN_RUNS, rank_similar, render_past_runs
from workforce_graph.past_runs.store import (
    NAMESPACE,
    clear_records,
    find_record,
    load_records,
    score_records,
    write_record,
)

__all__ = [
    "NAMESPACE",
    "PAST_RUN_URL",
    "SHOWN_RUNS",
    "PastRun",
    "PastStep",
    "clear_records",
    "find_record",
    "flow_record",
    "load_records",
    "rank_similar",
    "recall",
    "record_key",
    "record_text",
    "remembering",
    "render_past_runs",
    "score_records",
    "without_withheld",
    "worked",
    "workforce_record",
    "write_record",
]
