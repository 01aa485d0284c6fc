"""The memory of past runs, measured: a sequence of related requests run twice, without
and with memory, side by side.

Scripted part (always): a scripted planner that, like a model that reads its prompt,
copies a plan the prompt shows as having worked, and otherwise first replies with an
invalid plan (a capability no worker offers), then with a valid one for the wrong
worker (which fails), and after the replan with the right one. The figures are what
the memory saves when a model does use it: model calls, replans and invalid plans. They
measure the plumbing (the record written, retrieved, shown), not a model's learning.

Bundled-model part (``--local N``): N questions of one curriculum family (``--family``;
``arithmetic`` by default, whose right worker is the code worker), each run on the
bundled model with its planner decoding without a grammar (the plan is parsed and
validated, as for a model server). Figures: first plan valid, right worker chosen,
pass@1. Each run is scored as an evaluation with ``--memory`` scores it, so the next
planner sees which plans were right.

    python benchmarks/memory.py                # scripted: table, then one JSON line
    python benchmarks/memory.py --local 4      # and the bundled model, 4 questions a side
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable, RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from workforce_graph import WorkerSpec, build_workforce_graph
from workforce_graph.past_runs import score_records
from workforce_graph.testing import ScriptedChatModel, plan_reply

__all__ = ["main", "run_local", "run_scripted"]

COUNTRIES = ("France", "Spain", "Italy", "Japan", "Peru", "Kenya", "Norway", "Chile")
REQUEST = "What was the population of {} in 2020, in millions?"
SCRIPTED_WORKERS = [
    WorkerSpec(
        name="researcher",
        description="Looks facts up.",
        capabilities=("web_search",),
        system_prompt="WORKER=researcher",
    ),
    WorkerSpec(
        name="writer",
        description="Writes and rewrites text.",
        capabilities=("writing",),
        system_prompt="WORKER=writer",
    ),
]
_WORKED = re.compile(r"Plan that worked:\n\s+s\d+ \[([^\]]+)\]")


def _text(messages: list[BaseMessage]) -> str:
    return "\n".join(str(m.content) for m in messages)


def _plan(tag: str) -> dict[str, Any]:
    return plan_reply({"id": "s1", "description": "Look the figure up.", "capabilities": [tag]})


def scripted_planner(messages: list[BaseMessage]) -> dict[str, Any]:
    """A planner that uses what its prompt shows (see the module's docstring)."""
    text = _text(messages)
    shown = _WORKED.search(text)
    if shown:
        return _plan(shown.group(1))
    if "The previous plan failed" in text:
        return _plan("web_search")
    if "That plan is invalid" in text:
        return _plan("writing")
    return _plan("search")  # no worker offers it: an invalid plan


def scripted_worker(messages: list[BaseMessage]) -> str:
    if "WORKER=writer" in _text(messages[:1]):
        return "FAILED: a writer cannot look figures up"
    return "About 50 million."


async def _scripted_side(memory: bool) -> dict[str, Any]:
    model = ScriptedChatModel(
        responders={
            "planner": scripted_planner,
            "worker": scripted_worker,
            "generator": "About 50 million.",
        }
    )
    graph = build_workforce_graph(model=model, workers=SCRIPTED_WORKERS).compile(
        checkpointer=InMemorySaver(), store=InMemoryStore() if memory else None
    )
    replans = plans = complete = 0
    for country in COUNTRIES:
        config = {"configurable": {"thread_id": uuid.uuid4().hex}}
        final: dict[str, Any] = {}
        async for mode, chunk in graph.astream(
            {"task": REQUEST.format(country)}, config, stream_mode=["custom", "values"]
        ):
            if mode == "values":
                final = chunk
            elif chunk.get("event") == "plan" and chunk.get("source") == "planner":
                plans += 1
        replans += int(final.get("replans") or 0)
        complete += bool((final.get("answer") or {}).get("complete"))
    planner_calls = len(model.calls_by_role("planner"))
    return {
        "requests": len(COUNTRIES),
        "complete": complete,
        "model_calls": len(model.calls),
        "planner_calls": planner_calls,
        "worker_calls": len(model.calls_by_role("worker")),
        "replans": replans,
        "invalid_plans": planner_calls - plans,
    }


def run_scripted() -> dict[str, Any]:
    """Both sides of the scripted part."""
    return {
        "without_memory": asyncio.run(_scripted_side(False)),
        "with_memory": asyncio.run(_scripted_side(True)),
    }


# -- the bundled model ---------------------------------------------------------------------


def _plain_local(**kwargs: Any) -> Any:
    """The bundled model with structured replies decoded freely, parsed afterwards."""
    from workforce_graph.calls.structured import _json_from_text
    from workforce_graph.models.local import ChatLocalLlama, bundled_model_path

    class PlainLocal(ChatLocalLlama):
        constrained_decoding: ClassVar[bool] = False

        def with_structured_output(  # type: ignore[override]
            self, schema: Any = None, *, include_raw: bool = False, **_: Any
        ) -> Runnable[Any, Any]:
            def parse(reply: AIMessage) -> dict[str, Any]:
                try:
                    parsed = _json_from_text(str(reply.content))
                except ValueError as exc:
                    return {"raw": reply, "parsed": None, "parsing_error": exc}
                return {"raw": reply, "parsed": parsed, "parsing_error": None}

            return self | RunnableLambda(parse)

    return PlainLocal(model_path=str(bundled_model_path()), model_name="plain-local", **kwargs)


async def _local_side(memory: bool, tasks: list[Any], planner: Any, model: Any) -> dict[str, Any]:
    from workforce_graph.evaluation.datasets.curriculum import score_curriculum
    from workforce_graph.plugins import usable_workers

    capabilities = {w.name: set(w.capabilities) for w in usable_workers().available.values()}
    store = InMemoryStore() if memory else None
    graph = build_workforce_graph(model=model, role_models={"planner": planner}).compile(
        checkpointer=InMemorySaver(), store=store
    )
    first_valid = right_worker = right = 0
    started = time.perf_counter()
    for task in tasks:
        thread_id = uuid.uuid4().hex
        config = {"configurable": {"thread_id": thread_id}}
        final: dict[str, Any] = {}
        first: dict[str, Any] | None = None
        async for mode, chunk in graph.astream(
            {"task": task.question}, config, stream_mode=["custom", "values"]
        ):
            if mode == "values":
                final = chunk
            elif chunk.get("event") == "plan" and first is None:
                first = chunk
        first_valid += bool(
            first and first.get("source") == "planner" and first.get("attempt") == 1
        )
        expected = set(task.data["expected_capabilities"])
        workers = [s.get("worker") for s in final.get("subtasks") or []]
        right_worker += any(capabilities.get(str(w), set()) & expected for w in workers)
        score = score_curriculum(task, str((final.get("answer") or {}).get("text") or ""))
        right += score >= 1.0
        if store is not None:
            await score_records(store, thread_id, score)  # as eval --memory scores a run
    n = len(tasks)
    return {
        "questions": n,
        "first_plan_valid": first_valid / n,
        "right_worker": right_worker / n,
        "pass@1": right / n,
        "seconds": round(time.perf_counter() - started, 1),
    }


def run_local(questions: int, seed: int = 7, family: str = "arithmetic") -> dict[str, Any]:
    """Both sides of the bundled-model part, on the same questions of ``family``."""
    from workforce_graph.evaluation.datasets.curriculum import load_curriculum
    from workforce_graph.models.local import local_chat_model

    tasks = list(load_curriculum(questions, seed=seed, families=(family,)).tasks)
    model = local_chat_model()
    planner = _plain_local()
    return {
        "family": family,
        "without_memory": asyncio.run(_local_side(False, tasks, planner, model)),
        "with_memory": asyncio.run(_local_side(True, tasks, planner, model)),
    }


def _table(title: str, sides: dict[str, Any], fmt: Callable[[Any], str]) -> str:
    off, on = sides["without_memory"], sides["with_memory"]
    lines = [title, f"{'':22} {'without memory':>15} {'with memory':>12}"]
    lines += [f"{key:22} {fmt(off[key]):>15} {fmt(on[key]):>12}" for key in off]
    return "\n".join(lines)


def _figure(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--local", type=int, default=0, metavar="N", help="bundled model: N a side")
    parser.add_argument("--seed", type=int, default=7, help="the curriculum's seed (--local)")
    parser.add_argument(
        "--family",
        default="arithmetic",
        help="the curriculum family of --local (arithmetic: the code worker is right; fact: "
        "the reasoning worker)",
    )
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"scripted": run_scripted()}
    print(_table("scripted model, 8 related requests", results["scripted"], _figure))
    if args.local:
        results["bundled"] = run_local(args.local, args.seed, args.family)
        title = f"bundled model, {args.local} {args.family} questions (planner without a grammar)"
        print()
        print(
            _table(title, {k: v for k, v in results["bundled"].items() if k != "family"}, _figure)
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
