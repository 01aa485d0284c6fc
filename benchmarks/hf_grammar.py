"""What the schema grammar costs an ``hf:`` planner: mask time against generation time.

Plans one request with the bundled model made trainable (``--base local``) through
``hf:`` under the positional plan schema, timing llguidance's mask at every token, and
prints the mask's share of the generation time, the milliseconds of each per token, and
whether the plan was valid at the first call.

    python benchmarks/hf_grammar.py [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from workforce_graph.lifecycle import validate_plan
from workforce_graph.models import hf_grammar
from workforce_graph.models.hf import ChatTransformers
from workforce_graph.plan_schema import positional_plan_schema, positions_within
from workforce_graph.training.base_model import resolve_base_model

CAPABILITIES = ("code", "reasoning", "web_search")
REQUEST = "Plan this request: What is 12 times 7, and which is larger, 84 or 90?"


def measure() -> dict[str, Any]:
    model = ChatTransformers(model_path=str(resolve_base_model("local")), device="cpu")
    schema = positional_plan_schema(CAPABILITIES, positions_within(model.max_tokens, 6))
    masked = {"calls": 0, "seconds": 0.0}
    unmasked = hf_grammar.SchemaConstraint.__call__

    def timed(self: hf_grammar.SchemaConstraint, input_ids: Any, scores: Any) -> Any:
        started = time.perf_counter()
        try:
            return unmasked(self, input_ids, scores)
        finally:
            masked["calls"] += 1
            masked["seconds"] += time.perf_counter() - started

    hf_grammar.SchemaConstraint.__call__ = timed  # type: ignore[method-assign]
    started = time.perf_counter()
    reply: Any = model.with_structured_output(schema, include_raw=True).invoke(REQUEST)
    seconds = time.perf_counter() - started
    tokens = reply["raw"].usage_metadata["output_tokens"]
    plan = reply["parsed"]
    valid = plan is not None
    if valid:
        validate_plan(list(plan.subtasks), offered_capabilities=set(CAPABILITIES))
    return {
        "tokens": tokens,
        "generation_ms_per_token": round(1000 * seconds / tokens, 2),
        "mask_ms_per_token": round(1000 * masked["seconds"] / max(1, int(masked["calls"])), 3),
        "mask_share_of_generation": round(masked["seconds"] / seconds, 4),
        "first_plan_valid": valid,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    figures = measure()
    if parser.parse_args().json:
        print(json.dumps(figures))
    else:
        for name, value in figures.items():
            print(f"{name:>26}: {value}")


if __name__ == "__main__":
    main()
