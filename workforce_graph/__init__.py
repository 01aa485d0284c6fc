"""workforce-graph: multi-agent task automation on LangGraph.

A planner decomposes a request into a DAG of subtasks, a coordinator assigns them to
plugin workers by declared capability, the workers run in parallel, a verifier decides
(retry, replan, finish) and a generator writes one answer. The flow topology
(:func:`build_flow_graph`) works turn by turn over an evolving memory instead.
"""

from workforce_graph.failures import FailedPart, FailureKind
from workforce_graph.flow import build_flow_graph
from workforce_graph.graph import build_workforce_graph
from workforce_graph.hookspecs import hookimpl
from workforce_graph.models import ModelConfigError, ModelSet, resolve_model
from workforce_graph.plugins import WorkerRegistry, collect_workers, get_plugin_manager
from workforce_graph.rerun import rerun_from
from workforce_graph.result_filter import ResultFilter, filter_results, filtering_results
from workforce_graph.settings import WorkforceContext, WorkforceSettings
from workforce_graph.state import Answer, Subtask, WorkforceInput, WorkforceOutput, WorkforceState
from workforce_graph.streaming import aanswer_tokens, answer_tokens
from workforce_graph.topologies import TOPOLOGIES, TopologySpec
from workforce_graph.workers import SubtaskContext, SubtaskFailed, WorkerSpec, get_subtask_context

__all__ = [
    "TOPOLOGIES",
    "Answer",
    "FailedPart",
    "FailureKind",
    "ModelConfigError",
    "ModelSet",
    "ResultFilter",
    "Subtask",
    "SubtaskContext",
    "SubtaskFailed",
    "TopologySpec",
    "WorkerRegistry",
    "WorkerSpec",
    "WorkforceContext",
    "WorkforceInput",
    "WorkforceOutput",
    "WorkforceSettings",
    "WorkforceState",
    "aanswer_tokens",
    "answer_tokens",
    "build_flow_graph",
    "build_workforce_graph",
    "collect_workers",
    "filter_results",
    "filtering_results",
    "get_plugin_manager",
    "get_subtask_context",
    "hookimpl",
    "rerun_from",
    "resolve_model",
]

__version__ = "0.1.0"
