"""SFT, DPO and Flow-GRPO at a realistic scale on a GPU; prints throughput and the
held-out figures.

Given a GPU and a base model directory (e.g. Qwen2.5-0.5B-Instruct or larger saved with
save_pretrained), it runs the OWL loop (benchmarks/owl_loop.py) and a few Flow-GRPO
iterations (benchmarks/flow_grpo_demo.py) with bigger curricula, bf16 and ``cuda``,
then prints training tokens/s, rollouts/min and the held-out accuracy and first-plan
validity before and after. The other roles use ``--model`` (the local model by default;
an OpenAI-compatible server with ``--model NAME`` and ``WORKFORCE_GRAPH_BASE_URL`` is
faster). Nothing else in the project needs a GPU.

    python benchmarks/gpu_training.py --base /models/Qwen2.5-0.5B-Instruct --out runs/gpu
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import flow_grpo_demo
import owl_loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="a Hugging Face model directory")
    parser.add_argument("--out", type=Path, default=Path("runs/gpu"))
    parser.add_argument("--model", default="local", help="model of the other roles")
    parser.add_argument("--train-questions", type=int, default=25, help="per family")
    parser.add_argument("--held-out", type=int, default=10, help="per family")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument(
        "--engine-url",
        help="optional last step: Flow-GRPO through TRL's AsyncGRPOTrainer with a vLLM "
        "server already serving --base here (benchmarks/cluster_engine_step.py)",
    )
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        sys.exit(
            "gpu_training.py: torch sees no CUDA GPU (the CPU demos are owl_loop.py and "
            "flow_grpo_demo.py)"
        )
    print(f"GPU: {torch.cuda.get_device_name(0)}", flush=True)
    common = ["--base", args.base, "--device", "cuda", "--model", args.model]
    owl_args = owl_loop.parser().parse_args(
        [
            *common,
            "--out",
            str(args.out / "owl"),
            "--samples",
            "4",
            "--train-questions",
            str(args.train_questions),
            "--held-out",
            str(args.held_out),
        ]
    )
    owl = asyncio.run(owl_loop.owl_loop(owl_args))
    owl_loop.show(owl)
    flow_args = flow_grpo_demo.parser().parse_args(
        [
            *common,
            "--out",
            str(args.out / "flow"),
            "--rollouts",
            "8",
            "--iterations",
            str(args.iterations),
            "--train-questions",
            str(max(1, args.train_questions // 4)),
            "--held-out",
            str(args.held_out),
        ]
    )
    flow = asyncio.run(flow_grpo_demo.flow_demo(flow_args))
    flow_grpo_demo.show(flow)
    throughput = {
        "sft_tokens_per_s": owl["training"].get("sft", {}).get("tokens_per_s"),
        "dpo_tokens_per_s": owl["training"].get("dpo", {}).get("tokens_per_s"),
        "flow_rollouts_per_min": [it["rollouts_per_min"] for it in flow["iterations"]],
    }
    print(json.dumps({"throughput": throughput}))
    (args.out / "gpu_report.json").write_text(
        json.dumps({"owl": owl, "flow": flow, "throughput": throughput}, indent=2) + "\n"
    )
    # -- optional: the cluster engine (skipped, with a line, when vLLM is not installed)
    if args.engine_url:
        import cluster_engine_step

        engine = ["--base", args.base, "--engine-url", args.engine_url, "--model", args.model]
        engine += ["--out", str(args.out / "cluster")]
        cluster_engine_step.cluster_step(cluster_engine_step.parser().parse_args(engine))


if __name__ == "__main__":
    main()
