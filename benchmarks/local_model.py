"""Tokens per second of the local model, and the cost of its LangChain wrapper.

Runs the same chat completion through ``llama_cpp.Llama.create_chat_completion``
directly and through :class:`workforce_graph.models.local.ChatLocalLlama`, with
identical messages and sampling parameters, interleaved in one process (the order
alternates every repetition, so drift in CPU speed hits both sides alike). Each call
starts from an empty KV cache, as a new prompt in a real run does, so tokens per
second are completion tokens over the whole call, prompt evaluation included.
Reports medians. On a busy machine, prefer ``--threads 1``: llama.cpp threads spin,
and competing for every core makes timings swing wildly.

Usage (from the repository root, with the ``local`` extra installed)::

    python benchmarks/local_model.py            # table
    python benchmarks/local_model.py --json     # one JSON object
    python benchmarks/local_model.py --reps 15 --max-tokens 128 --threads 2

The target is a wrapper overhead under 5%.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage

from workforce_graph.models.local import ChatLocalLlama, LocalModelError, local_chat_model

__all__ = ["main", "run_benchmark"]

SYSTEM = "You are a helpful assistant."
PROMPT = "Explain in a few sentences why the sky is blue."
TARGET_OVERHEAD_PCT = 5.0


def _direct_call(model: ChatLocalLlama) -> Callable[[], tuple[str, int]]:
    """A call straight into llama.cpp with the wrapper's exact parameters."""
    llama = model.llama
    params: dict[str, Any] = {
        "temperature": model.temperature,
        "seed": model.seed,
        "max_tokens": model.max_tokens,
        "top_p": model.top_p,
        "top_k": model.top_k,
        "repeat_penalty": model.repeat_penalty,
    }
    messages: Any = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}]

    def call() -> tuple[str, int]:
        completion: Any = llama.create_chat_completion(messages=messages, **params)
        usage = completion["usage"]
        return completion["choices"][0]["message"]["content"], usage["completion_tokens"]

    return call


def _wrapper_call(model: ChatLocalLlama) -> tuple[Callable[[], tuple[str, int]], list[float]]:
    """A call through the wrapper, and the times spent inside llama.cpp during such calls.

    The inner times give the wrapper's own cost from the very same calls, a figure that
    machine load cannot blur the way it blurs two separate calls.
    """
    messages = [SystemMessage(SYSTEM), HumanMessage(PROMPT)]
    llama = model.llama
    inner: list[float] = []
    original = llama.create_chat_completion

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            inner.append(time.perf_counter() - start)

    def call() -> tuple[str, int]:
        # An instance attribute shadows the method for this call only.
        setattr(llama, "create_chat_completion", timed)  # noqa: B010
        try:
            reply = model.invoke(messages)
        finally:
            delattr(llama, "create_chat_completion")
        usage = reply.usage_metadata
        return str(reply.content), usage["output_tokens"] if usage else 0

    return call, inner


def run_benchmark(*, reps: int, max_tokens: int, n_ctx: int, threads: int | None) -> dict[str, Any]:
    """Time direct and wrapped calls side by side.

    Args:
        reps: Measured repetitions per side (after one warm-up call each).
        max_tokens: Tokens generated per call.
        n_ctx: Context length of the model.
        threads: CPU threads; ``None`` uses the model's default.

    Returns:
        Medians, tokens per second and the overhead in percent, JSON-ready.

    Example:
        >>> result = run_benchmark(reps=3, max_tokens=16, n_ctx=1024, threads=1)  # doctest: +SKIP
        >>> result["overhead_pct"] < 5  # doctest: +SKIP
        True
    """
    kwargs: dict[str, Any] = {"n_ctx": n_ctx, "max_tokens": max_tokens}
    if threads is not None:
        kwargs["n_threads"] = threads
    model = local_chat_model(**kwargs)
    # Typed here because llama-cpp-python leaves Llama.reset unannotated.
    reset: Callable[[], None] = model.llama.reset
    wrapper, inner = _wrapper_call(model)
    sides = {"direct": _direct_call(model), "wrapper": wrapper}
    times: dict[str, list[float]] = {name: [] for name in sides}
    tokens: dict[str, list[int]] = {name: [] for name in sides}
    texts: dict[str, set[str]] = {name: set() for name in sides}
    for call in sides.values():  # warm-up: page in the weights, build the templates
        reset()
        call()
    for rep in range(reps):
        order = list(sides) if rep % 2 == 0 else list(reversed(sides))
        for name in order:
            # An empty KV cache each time: no side profits from the other's prefix.
            reset()
            start = time.perf_counter()
            text, n_tokens = sides[name]()
            times[name].append(time.perf_counter() - start)
            tokens[name].append(n_tokens)
            texts[name].add(text)
    result: dict[str, Any] = {
        "model": model.model_name,
        "n_ctx": model.n_ctx,
        "n_threads": model.n_threads,
        "max_tokens": max_tokens,
        "reps": reps,
        "same_output": texts["direct"] == texts["wrapper"],
    }
    for name in sides:
        median_s = statistics.median(times[name])
        median_tokens = statistics.median(tokens[name])
        result[name] = {
            "median_s": round(median_s, 5),
            "completion_tokens": median_tokens,
            "tokens_per_s": round(median_tokens / median_s, 1),
        }
    ratios = [w / d for w, d in zip(times["wrapper"], times["direct"], strict=True)]
    result["overhead_pct"] = round((statistics.median(ratios) - 1) * 100, 2)
    diffs = [w - d for w, d in zip(times["wrapper"], times["direct"], strict=True)]
    result["overhead_ms"] = round(statistics.median(diffs) * 1000, 2)
    # inner[0] is the warm-up call; the rest pair with the measured wrapper calls.
    own = [w - i for w, i in zip(times["wrapper"], inner[1:], strict=True)]
    result["in_call_overhead_ms"] = round(statistics.median(own) * 1000, 3)
    result["in_call_overhead_pct"] = round(
        statistics.median([o / i for o, i in zip(own, inner[1:], strict=True)]) * 100, 3
    )
    result["target_pct"] = TARGET_OVERHEAD_PCT
    result["within_target"] = result["overhead_pct"] < TARGET_OVERHEAD_PCT
    return result


def _print_table(result: dict[str, Any]) -> None:
    print(
        f"{result['model']}  n_ctx={result['n_ctx']}  threads={result['n_threads']}  "
        f"max_tokens={result['max_tokens']}  reps={result['reps']}"
    )
    print(f"{'path':<22}{'median s':>10}{'tokens':>8}{'tokens/s':>10}")
    for name, label in (("direct", "llama.cpp direct"), ("wrapper", "LangChain wrapper")):
        row = result[name]
        print(
            f"{label:<22}{row['median_s']:>10.4f}{row['completion_tokens']:>8}"
            f"{row['tokens_per_s']:>10.1f}"
        )
    verdict = "within" if result["within_target"] else "OVER"
    print(
        f"wrapper overhead (median of paired ratios): {result['overhead_pct']:+.2f}% "
        f"= {result['overhead_ms']:+.2f} ms per call "
        f"({verdict} the {result['target_pct']:.0f}% target); "
        f"identical output: {result['same_output']}"
    )
    print(
        f"wrapper's own time inside the same calls: {result['in_call_overhead_ms']:.3f} ms "
        f"({result['in_call_overhead_pct']:.3f}%)"
    )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0, or 1 when the local model cannot be loaded.

    Example:
        >>> main(["--reps", "3", "--json"])  # doctest: +SKIP
        0
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=9, help="measured calls per side")
    parser.add_argument("--max-tokens", type=int, default=64, help="tokens generated per call")
    parser.add_argument("--n-ctx", type=int, default=2048, help="context length")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    try:
        result = run_benchmark(
            reps=args.reps, max_tokens=args.max_tokens, n_ctx=args.n_ctx, threads=args.threads
        )
    except LocalModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result))
    else:
        _print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
