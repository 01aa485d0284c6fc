"""Runnable examples of embedding workforce-graph in LangChain and LangGraph apps.

* ``subgraph_node.py``: the compiled graph as a node of a larger LangGraph graph.
* ``agent_tool.py``: the compiled graph as a tool of a LangChain agent.
* ``stream_progress.py``: progress events streamed while the graph runs.

Run one with ``python examples/stream_progress.py "your request" --model local``.
"""
