"""The ``reasoning`` worker: the model alone, no tools, so any model can run a plan."""

from __future__ import annotations

from collections.abc import Callable

from workforce_graph.hookspecs import hookimpl
from workforce_graph.workers import WorkerSpec

SYSTEM_PROMPT = """You are a careful analyst. Solve the subtask you are given step by \
step, using the results of earlier subtasks when they are provided. End with the result \
itself, stated plainly. If the subtask cannot be done with reasoning alone (it needs \
fresh data, files or code you cannot run), reply with one line starting with \
"FAILED:" and the reason."""


@hookimpl
def register_workers(register: Callable[[WorkerSpec], None]) -> None:
    register(
        WorkerSpec(
            name="reasoning",
            description="Analyses, explains, compares, summarises and writes, using only "
            "the model's own knowledge and the results of earlier subtasks.",
            capabilities=("reasoning", "writing", "summarisation", "general_knowledge"),
            system_prompt=SYSTEM_PROMPT,
            limitations=(
                "no internet access or fresh facts",
                "cannot read files or run code",
                "arithmetic beyond a few steps may be wrong",
            ),
            examples=(
                "Compare two approaches and recommend one",
                "Summarise the findings of earlier subtasks",
            ),
        )
    )
