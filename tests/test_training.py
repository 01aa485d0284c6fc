"""Each trainer end to end on the bundled model with tiny data (a few real steps).

The bundled GGUF is converted once per test session. Every run trains on a batch it
can memorise: the loss must be finite and fall, the saved model must load, and a graph
planned by the trained planner (``hf:DIR``) must produce a plan.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.conftest import spec
from workforce_graph import build_workforce_graph
from workforce_graph.cli import main
from workforce_graph.models.hf import ChatTransformers
from workforce_graph.testing import ScriptedChatModel
from workforce_graph.training.base_model import resolve_base_model
from workforce_graph.training.flow_grpo import FlowGrpoLoss, encode_row, train_flow_grpo
from workforce_graph.training.options import TrainOptions
from workforce_graph.training.owl_stages import train_sft
from workforce_graph.training.policy_loss import token_logps
from workforce_graph.workers import WorkerSpec

TASK = "What is 6 times 7?"
PLAN = {
    "subtasks": [
        {"id": "s1", "description": "Compute 6 times 7.", "capabilities": ["reasoning"]},
    ]
}
QUICK: dict[str, Any] = {"device": "cpu", "save_steps": 0, "progress": False, "grad_accum": 1}

# Real training steps on a busy 2-core machine can take a minute each.
pytestmark = pytest.mark.timeout(1800)


def _plan(planner: Any, workers: list[WorkerSpec] | None = None) -> dict[str, Any]:
    """Run TASK through a graph whose planner is ``planner`` (other roles scripted)."""
    others = ScriptedChatModel(
        responders={"worker": lambda m: "42", "generator": lambda m: "6 times 7 is 42."}
    )
    graph = build_workforce_graph(
        model=others,
        role_models={"planner": planner},
        workers=workers or [spec("reasoning", "reasoning")],
        max_plan_attempts=1,
        plan_fallback=False,  # a plan must come from the model, not the one-subtask fallback
    ).compile()
    return dict(asyncio.run(graph.ainvoke({"task": TASK})))


@pytest.fixture(scope="module")
def planner_prompt(base: Path) -> str:
    """The end of the exact prompt the planner model is given for TASK.

    Only its last 600 characters (about 150 tokens) are trained on: the whole prompt
    (worker cards, example, schema) would make each CPU step several times slower, and
    the memorised ending is enough for the model to plan from the whole prompt.
    """
    seen: list[list[dict[str, str]]] = []
    model = ChatTransformers(
        model_path=str(base), device="cpu", max_new_tokens=1, transcript=lambda c, _: seen.append(c)
    )
    _plan(model)
    assert seen, "the planner model was never called"
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    text = tokenizer.apply_chat_template(seen[0], add_generation_prompt=True, tokenize=False)
    assert TASK in text[-600:]
    return str(text[-600:])


@pytest.fixture(scope="module")
def sft_model(
    base: Path, planner_prompt: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[float]]:
    row = {"prompt": planner_prompt, "completion": json.dumps(PLAN)}
    options = TrainOptions(learning_rate=2e-4, max_steps=4, batch_size=1, **QUICK)
    result = train_sft([row], base=str(base), out=tmp_path_factory.mktemp("sft"), options=options)
    return result.out, result.losses


def test_conversion_gives_a_plain_trainable_model_once(base: Path) -> None:
    config = json.loads((base / "config.json").read_text())
    assert "quantization_config" not in config
    assert resolve_base_model("local") == base  # cached: the same directory, not a new one
    model = AutoModelForCausalLM.from_pretrained(str(base))
    assert not getattr(model, "is_quantized", False)
    assert sum(p.numel() for p in model.parameters()) > 100_000_000


def test_sft_loss_falls_and_the_trained_planner_plans(sft_model: tuple[Path, list[float]]) -> None:
    out, losses = sft_model
    assert len(losses) == 4 and all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < losses[0]
    final = _plan(f"hf:{out}")
    assert final.get("error") is None
    assert [s["capabilities"] for s in final["subtasks"]] == [["reasoning"]]
    assert final["subtasks"][0]["status"] == "done"


def test_an_untrained_hf_planner_plans_validly_under_the_schema_grammar(base: Path) -> None:
    # The base model has never seen a plan; only the grammar can make its first reply a
    # valid DAG over the offered tags.
    workers = [spec("reasoning", "reasoning"), spec("code", "code"), spec("web", "web_search")]
    final = _plan(f"hf:{base}", workers)
    assert final.get("error") is None
    subtasks = final["subtasks"]
    assert [s["id"] for s in subtasks] == [f"s{i + 1}" for i in range(len(subtasks))]
    for index, subtask in enumerate(subtasks):
        assert set(subtask["depends_on"]) <= {f"s{i + 1}" for i in range(index)}
        assert set(subtask["capabilities"]) <= {"reasoning", "code", "web_search"}
    assert ChatTransformers(model_path=str(base), constrained=False).constrained_decoding is False


def test_the_trained_planner_exported_to_gguf_computes_the_same_and_plans(
    base: Path,
    sft_model: tuple[Path, list[float]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from llama_cpp import Llama

    out, _ = sft_model
    gguf = tmp_path / "planner.gguf"
    with pytest.raises(SystemExit) as exited:
        main(["train", "gguf", str(out), "--out", str(gguf), "--dtype", "f32", "--json"])
    assert exited.value.code == 0
    assert json.loads(capsys.readouterr().out)["gguf"] == str(gguf)
    # The same logits as transformers computes from the directory (a wrong rotary
    # permutation of q/k, or a wrong tensor, would change every next-token choice).
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": TASK}], add_generation_prompt=True, tokenize=False
    )
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    llama = Llama(model_path=str(gguf), n_ctx=256, logits_all=True, verbose=False)
    llama.eval(ids)
    exported = torch.tensor(llama.scores[: len(ids)])
    with torch.no_grad():
        reference = AutoModelForCausalLM.from_pretrained(str(out))(
            input_ids=torch.tensor([ids])
        ).logits[0]
    assert (exported - reference).abs().max() < 0.1
    assert torch.equal(exported.argmax(-1), reference.argmax(-1))
    # And it plans, now under the local runtime's grammar.
    final = _plan(f"gguf:{gguf}")
    assert final.get("error") is None
    assert [s["capabilities"] for s in final["subtasks"]] == [["reasoning"]]


def test_a_model_that_does_not_fit_the_template_is_a_one_line_error(
    base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    config = json.loads((base / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 2}))
    with pytest.raises(SystemExit) as exited:
        main(["train", "gguf", str(other), "--out", str(tmp_path / "x.gguf")])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "num_hidden_layers is 2" in err and "--template" in err
    assert not (tmp_path / "x.gguf").exists()


def test_dpo_with_lora_through_the_cli(
    base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = tmp_path / "pairs.jsonl"
    pair = {"prompt": "Plan: 6 times 7", "chosen": json.dumps(PLAN), "rejected": "No."}
    rows.write_text(json.dumps(pair) + "\n" + json.dumps(pair) + "\n")
    args = ["train", "dpo", "--data", str(rows), "--base", str(base), "--lora"]
    args += ["--out", str(tmp_path / "dpo"), "--lr", "5e-4", "--max-steps", "3"]
    args += ["--batch-size", "2", "--grad-accum", "1", "--device", "cpu"]
    with pytest.raises(SystemExit) as exited:
        main([*args, "--quiet", "--json"])
    assert exited.value.code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 3 and (summary["rows"], summary["rows_seen"]) == (2, 2)
    # No checkpoint unless --save-steps asks: nothing to resume from a finished run.
    assert not list((tmp_path / "dpo").glob("checkpoint-*"))
    # TRL's reward margin and accuracy are the figures' reward, per step; DPO has no KL.
    figures = json.loads((tmp_path / "dpo" / "loop.json").read_text())["figures"]
    assert [f["step"] for f in figures] == [1, 2, 3]
    assert [f["loss"] for f in figures] == pytest.approx(
        [summary["first_loss"], figures[1]["loss"], summary["last_loss"]]
    )
    assert all(f["reward"] is not None and f["kl"] is None for f in figures)
    assert figures[0]["reward"] == pytest.approx(0.0, abs=1e-6)  # the policy is the reference
    assert "reward_accuracy" in figures[-1]["extra"]
    assert "DPO reward accuracy" in (tmp_path / "dpo" / "report.html").read_text()
    assert summary["last_loss"] < summary["first_loss"] == pytest.approx(math.log(2), abs=1e-3)
    saved = json.loads((tmp_path / "dpo" / "config.json").read_text())
    assert saved["model_type"] == "llama"  # the adapter was merged into a plain model
    assert not (tmp_path / "dpo" / "adapter_config.json").exists()
    assert AutoModelForCausalLM.from_pretrained(str(tmp_path / "dpo")) is not None


def _completion_logp(model_dir: Path, row: dict[str, Any]) -> float:
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    ids, start = encode_row(tokenizer, row, 512)
    with torch.no_grad():
        logps = token_logps(model(input_ids=torch.tensor([ids])).logits, torch.tensor([ids]))
    return float(logps[0, start - 1 :].sum())


@pytest.mark.parametrize(("lora", "learning_rate"), [(False, 5e-5), (True, 1e-3)])
def test_flow_grpo_raises_rewarded_turns_and_lowers_the_others(
    base: Path, tmp_path: Path, lora: bool, learning_rate: float
) -> None:
    good = {"prompt": "Plan: 2 plus 2", "completion": '{"subtasks": []}', "advantage": 1.0}
    bad = {"prompt": "Plan: 3 plus 3", "completion": "I refuse.", "advantage": -1.0}
    options = TrainOptions(learning_rate=learning_rate, epochs=3, batch_size=2, lora=lora, **QUICK)
    result = train_flow_grpo(
        [good, bad],
        base=str(base),
        out=tmp_path / "grpo",
        options=options,
        loss=FlowGrpoLoss(kl_coef=0.0),
    )
    assert len(result.losses) == 3 and all(math.isfinite(loss) for loss in result.losses)
    assert result.losses[-1] < result.losses[0]
    assert not (result.out / "adapter_config.json").exists()  # with LoRA: merged, plain
    figures = json.loads((result.out / "loop.json").read_text())["figures"]
    assert [f["loss"] for f in figures] == result.losses
    assert all(f["kl"] is not None for f in figures)  # Flow-GRPO logs its KL term
    assert _completion_logp(result.out, good) > _completion_logp(base, good)
    assert _completion_logp(result.out, bad) < _completion_logp(base, bad)


def test_bad_rows_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"prompt": "p", "completion": "c"}\n{"prompt": "p"}\n')
    with pytest.raises(SystemExit) as exited:
        main(["train", "sft", "--data", str(rows), "--out", str(tmp_path / "o")])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{rows}:2: a sft row needs messages or prompt+completion" in err


def test_an_out_that_is_a_file_fails_before_any_model_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"prompt": "p", "completion": "c"}\n')
    taken = tmp_path / "taken"
    taken.write_text("a file the user keeps")
    # A base that does not exist: reaching the model load would be a different error.
    out = ["--out", str(taken)]
    with pytest.raises(SystemExit) as exited:
        main(["train", "sft", "--data", str(rows), "--base", str(tmp_path / "no-model"), *out])
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip() == (
        f"workforce-graph: error: --out {taken} is a file; pass a folder for the model"
    )
    assert taken.read_text() == "a file the user keeps"


@pytest.mark.parametrize("kind", ["sft", "dpo", "flow-grpo"])
@pytest.mark.parametrize("package", ["datasets", "trl", "torch"])
def test_without_the_train_extra_training_names_it_in_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    package: str,
) -> None:
    rows = tmp_path / "rows.jsonl"
    row = {
        "sft": {"prompt": "p", "completion": "c"},
        "dpo": {"prompt": "p", "chosen": "a", "rejected": "b"},
        "flow-grpo": {"prompt": "p", "completion": "c", "advantage": 1.0},
    }[kind]
    rows.write_text(json.dumps(row) + "\n")
    # None in sys.modules is how Python marks a module that cannot be imported.
    monkeypatch.setitem(sys.modules, package, None)
    out = tmp_path / "o"
    with pytest.raises(SystemExit) as exited:
        main(["train", kind, "--data", str(rows), "--out", str(out), "--device", "cuda"])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"workforce-graph: error: training needs packages that are missing ({package}): "
        "pip install 'workforce-graph[train]'"
    )


def test_a_gguf_out_that_is_a_folder_fails_before_the_model_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The model folder is not one: reading it first would be a different error.
    with pytest.raises(SystemExit) as exited:
        main(["train", "gguf", str(tmp_path / "no-model"), "--out", str(tmp_path)])
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip() == (
        f"workforce-graph: error: --out {tmp_path} is a directory; pass the .gguf file to write"
    )


def test_trained_weights_stay_float32_and_frozen_ones_may_be_bf16() -> None:
    from workforce_graph.training.model_io import weight_dtype

    assert weight_dtype("cuda", frozen=False, bf16_supported=True) == "float32"
    assert weight_dtype("cuda", frozen=True, bf16_supported=True) == "bfloat16"
    assert weight_dtype("cuda", frozen=True, bf16_supported=False) == "float32"
    assert weight_dtype("cpu", frozen=True, bf16_supported=True) == "float32"


def test_one_step_at_a_small_lr_moves_float32_master_weights_not_bf16_ones(base: Path) -> None:
    """Why trained weights are float32: in bf16 most of a small update rounds away."""
    from workforce_graph.training.model_io import load_for_training

    def changed_share(dtype: torch.dtype) -> float:
        model, tokenizer, _ = load_for_training(str(base), "cpu")
        model = model.to(dtype)
        layer = model.model.layers[0].mlp.down_proj.weight
        before = layer.detach().clone()
        optimizer = torch.optim.AdamW([layer], lr=1e-5)
        ids = tokenizer("The planner splits the request into subtasks.", return_tensors="pt")
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(**ids, labels=ids["input_ids"]).loss
        loss.backward()
        optimizer.step()
        return float((layer.detach() != before).float().mean())

    loaded, _, _ = load_for_training(str(base), "cpu")
    assert next(loaded.parameters()).dtype == torch.float32
    del loaded
    assert changed_share(torch.float32) > 0.95
    assert changed_share(torch.bfloat16) < 0.5


def test_a_saved_config_repeats_the_run_and_given_options_override_it(
    tmp_path: Path, base: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"prompt": "p", "completion": "c"}) + "\n")
    first = tmp_path / "first"
    command = ["train", "sft", "--data", str(rows), "--base", str(base), "--max-steps", "1"]
    with pytest.raises(SystemExit) as exited:
        main([*command, "--out", str(first), "--lr", "0.001", "--device", "cpu", "--quiet"])
    assert exited.value.code == 0
    saved = yaml.safe_load((first / "config.yaml").read_text())
    assert saved["command"] == "sft"
    assert saved["options"]["lr"] == 0.001 and saved["options"]["batch_size"] == 4
    assert saved["options"]["data"] == str(rows.resolve())
    assert "quiet" not in saved["options"] and "resume" not in saved["options"]

    again = tmp_path / "again"
    with pytest.raises(SystemExit) as exited:
        main(
            ["train", "sft", "--config", str(first / "config.yaml"), "--out", str(again), "--quiet"]
        )
    assert exited.value.code == 0
    repeated = yaml.safe_load((again / "config.yaml").read_text())
    assert repeated["options"] == {**saved["options"], "out": str(again.resolve())}
    assert (again / "loop.json").exists()
    capsys.readouterr()

    for wrong, says in [
        (["train", "dpo", "--config", str(first / "config.yaml")], "configures 'train sft'"),
        (["train", "sft", "--config", str(tmp_path / "none.yaml")], "cannot read"),
    ]:
        with pytest.raises(SystemExit) as exited:
            main(wrong)
        assert exited.value.code == 2
        assert says in capsys.readouterr().err
    bogus = tmp_path / "bogus.yaml"
    bogus.write_text("options: {learning_speed: 3}\n")
    with pytest.raises(SystemExit) as exited:
        main(["train", "sft", "--config", str(bogus)])
    assert exited.value.code == 2
    assert "unknown option(s) learning_speed" in capsys.readouterr().err
