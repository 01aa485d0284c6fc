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

The server also offers each as an MCP tool and an A2A agent, built from the graph's
input and output schemas: :func:`workforce_graph.server_protocols.for_protocols` gives
these graphs a request for input, the answer for output, and errors that carry their
message. The state a run keeps (what Studio shows) is the whole state as usual.

Example:
    Serve them on http://127.0.0.1:2024 from the repository root::

        langgraph dev --no-browser
"""

from __future__ import annotations

from workforce_graph.flow import build_flow_graph
from workforce_graph.graph import build_workforce_graph
from workforce_graph.server_protocols import for_protocols

__all__ = ["flow_graph", "graph", "review_graph"]

graph = for_protocols(build_workforce_graph(), name="workforce")
review_graph = for_protocols(build_workforce_graph(approve_plan=True), name="workforce_review")
flow_graph = for_protocols(build_flow_graph(), name="flow")
