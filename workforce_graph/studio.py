"""Compiled graphs for LangGraph Studio and ``langgraph dev`` (see ``langgraph.json``).

LangGraph's server supplies its own persistence and refuses graphs compiled with a
checkpointer, so these have none. Importing this module needs no network and no API
key: models are resolved at their first call, from the run's context options (shown by
Studio as the assistant's configuration) or ``$WORKFORCE_GRAPH_MODEL`` and
``$WORKFORCE_GRAPH_BASE_URL``.

* ``graph`` (assistant ``workforce``): the Workforce graph.
* ``review_graph`` (assistant ``workforce_review``): the same, pausing after each plan
  for a person to approve, edit or reject it (see :mod:`workforce_graph.nodes.review`).
* ``flow_graph`` (assistant ``flow``): the flow topology (see :mod:`workforce_graph.flow`);
  its state shows the query analysis and the memory of turns.

Example:
    Serve them on http://127.0.0.1:2024 from the repository root::

        langgraph dev --no-browser
"""

from __future__ import annotations

from workforce_graph.flow import build_flow_graph
from workforce_graph.graph import build_workforce_graph

__all__ = ["flow_graph", "graph", "review_graph"]

graph = build_workforce_graph().compile(name="workforce")
review_graph = build_workforce_graph(approve_plan=True).compile(name="workforce_review")
flow_graph = build_flow_graph().compile(name="flow")
