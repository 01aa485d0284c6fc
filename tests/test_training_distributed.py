"""``train`` data-parallel: two CPU processes over gloo, as ``accelerate launch`` and
``torchrun`` start them on GPUs, train one model and write its files once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(1200)


ROWS = {
    "sft": lambda i: {"prompt": f"q{i}", "completion": f"a{i}"},
    "dpo": lambda i: {"prompt": f"q{i}", "chosen": f"good {i}", "rejected": f"bad {i}"},
}


@pytest.mark.parametrize("kind", sorted(ROWS))
def test_two_processes_train_one_model_and_write_it_once(
    kind: str, tmp_path: Path, base: Path
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps(ROWS[kind](i)) + "\n" for i in range(8)))
    out = tmp_path / "model"
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    done = subprocess.run(
        [
            *(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node"),
            *("2", "-m", "workforce_graph.cli", "train", kind, "--data", str(rows)),
            *("--base", str(base), "--out", str(out), "--max-steps", "2", "--batch-size", "2"),
            *("--grad-accum", "1", "--device", "cpu", "--json"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=1100,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summaries = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert len(summaries) == 1, done.stdout  # one process prints, and only its summary
    summary = summaries[0]
    # Two processes of two rows each per update: two updates cover all eight rows.
    assert (summary["steps"], summary["rows_seen"]) == (2, 8)
    recorded = json.loads((out / "training.json").read_text())
    assert recorded["steps"] == 2 and recorded["rows_seen"] == 8
    assert [round(loss, 6) for loss in recorded["losses"]] == [
        round(summary["first_loss"], 6),
        round(summary["last_loss"], 6),
    ]
    assert len(json.loads((out / "loop.json").read_text())["figures"]) == 2
    assert (out / "model.safetensors").exists() and (out / "config.yaml").exists()
