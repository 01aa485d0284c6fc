"""Time to the answer's first token against time to the whole answer.

A Workforce run (one subtask) is streamed with ``stream_mode=["messages", "values"]``
and :func:`workforce_graph.answer_tokens` picks the answer's tokens out of it. From
the moment the run starts, the benchmark notes when the first answer token arrives
and when the whole answer (the final state) does; what lies between is what a reader
no longer waits for. Two generator models:

- ``scripted``: a scripted model that writes its reply in pieces with a delay between
  them (``--token-ms``, default 20 ms) after a call latency (``--call-ms``, 200 ms), as
  a model server streams;
- ``local``: the bundled SmolLM2-135M on llama.cpp, in this process, writing up to
  ``--max-tokens`` tokens (default 128).

The planner and the worker are scripted in both cases, so the figures are the
answer's. Each figure is the median of ``--repeats`` runs (default 3).

    python benchmarks/streaming.py             # one JSON line, then a table
    python benchmarks/streaming.py --repeats 5 --max-tokens 256
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver

from workforce_graph import WorkerSpec, answer_tokens, build_workforce_graph
from workforce_graph.testing import ScriptedChatModel, plan_reply

WORDS = 60
"""Words in the scripted answer (each word and each space is one streamed piece)."""


def scripted(call_s: float, token_s: float) -> ScriptedChatModel:
    return ScriptedChatModel(
        responders={
            "planner": plan_reply(
                {"id": "s1", "description": "Explain tides", "capabilities": ["reasoning"]}
            ),
            "worker": "The Moon's gravity pulls the oceans; the Earth turns beneath the bulge.",
            "generator": " ".join(f"word{i}" for i in range(WORDS)),
        },
        latency_s=call_s,
        token_latency_s=token_s,
    )


def one_run(generator: Any, helpers: ScriptedChatModel) -> dict[str, Any]:
    """One streamed run: seconds to the first answer token and to the whole answer."""
    graph = build_workforce_graph(
        model=helpers,
        role_models={"generator": generator},
        workers=[WorkerSpec(name="reasoning", description="Thinks.", capabilities=("reasoning",))],
    ).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": uuid.uuid4().hex}}
    started = time.perf_counter()
    first: float | None = None
    pieces = 0
    final: dict[str, Any] = {}
    for mode, item in graph.stream(
        {"task": "Explain tides."}, config, stream_mode=["messages", "values"]
    ):
        if mode == "values":
            final = item
        elif list(answer_tokens([item])):
            pieces += 1
            if first is None:
                first = time.perf_counter() - started
    whole = time.perf_counter() - started
    return {
        "first_token_s": first if first is not None else whole,
        "answer_s": whole,
        "pieces": pieces,
        "answer_chars": len((final.get("answer") or {}).get("text") or ""),
    }


def measure(name: str, make: Any, helpers: Any, repeats: int) -> dict[str, Any]:
    runs = [one_run(make(), helpers()) for _ in range(repeats)]
    first = statistics.median(r["first_token_s"] for r in runs)
    whole = statistics.median(r["answer_s"] for r in runs)
    return {
        "model": name,
        "first_token_s": round(first, 3),
        "answer_s": round(whole, 3),
        "first_over_whole": round(first / whole, 3) if whole else None,
        "pieces": runs[-1]["pieces"],
        "answer_chars": runs[-1]["answer_chars"],
        "repeats": repeats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--call-ms", type=float, default=200.0)
    parser.add_argument("--token-ms", type=float, default=20.0)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    from workforce_graph.models.local import local_chat_model

    call_s, token_s = args.call_ms / 1000, args.token_ms / 1000
    local = local_chat_model(max_tokens=args.max_tokens)
    local.invoke("Hi")  # loaded once, before the clock runs
    rows = [
        measure(
            f"scripted ({args.call_ms:.0f} ms call, {args.token_ms:.0f} ms/token)",
            lambda: scripted(call_s, token_s),
            lambda: scripted(0.0, 0.0),
            args.repeats,
        ),
        measure(
            f"local SmolLM2-135M (max {args.max_tokens} tokens)",
            lambda: local,
            lambda: scripted(0.0, 0.0),
            args.repeats,
        ),
    ]
    print(json.dumps({"benchmark": "streaming", "results": rows}))
    print()
    print(f"{'generator model':48} {'first token s':>13} {'whole answer s':>14} {'pieces':>7}")
    for row in rows:
        print(
            f"{row['model']:48} {row['first_token_s']:13.3f} {row['answer_s']:14.3f} "
            f"{row['pieces']:7d}"
        )


if __name__ == "__main__":
    main()
