"""The flow topology (AgentFlow): query analysis, then turns of planner, executor and
verifier over an evolving memory, then the shared generator.

It runs on the same worker registry, worker runtime, models and generator as the
Workforce graph; see :func:`build_flow_graph` and docs/topologies.md.
"""

from workforce_graph.flow.graph import build_flow_graph
from workforce_graph.flow.memory import render_memory, repeated_failures
from workforce_graph.flow.state import Analysis, FlowInput, FlowOutput, FlowState, MemoryRecord

__all__ = [
    "Analysis",
    "FlowInput",
    "FlowOutput",
    "FlowState",
    "MemoryRecord",
    "build_flow_graph",
    "render_memory",
    "repeated_failures",
]
