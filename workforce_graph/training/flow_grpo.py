"""Flow-GRPO updates of the planner from (prompt, completion, advantage) rows.

A small trainer on ``transformers.Trainer`` (which brings gradient accumulation, bf16,
checkpoints, the progress bar and loss logging) whose loss is
:func:`~workforce_graph.training.policy_loss.clipped_policy_loss`. Before the update
the log-probabilities of every completion are computed once under the policy as it
is (the "old" policy that produced the rollouts) and, for the KL term, under the
reference model; during the update only the policy runs. Defaults are AgentFlow's:
lr 1e-6, clip 0.2, KL 0.001 to the reference, one epoch.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workforce_graph.folders import output_folder
from workforce_graph.training.base_model import require_training_packages
from workforce_graph.training.model_io import (
    load_for_training,
    lora_config,
    quiet_libraries,
    resume_point,
    run_trainer,
)
from workforce_graph.training.options import (
    TrainOptions,
    TrainResult,
    pick_device,
    trainer_arguments,
)
from workforce_graph.training.policy_loss import clipped_policy_loss, token_logps
from workforce_graph.training.rows import check_rows

if TYPE_CHECKING:
    import torch

__all__ = ["FLOW_GRPO_DEFAULTS", "FlowGrpoLoss", "encode_row", "train_flow_grpo"]

FLOW_GRPO_DEFAULTS = TrainOptions(learning_rate=1e-6, epochs=1.0, batch_size=4, grad_accum=2)
"""AgentFlow's learning rate; one pass over the rows of an iteration."""


@dataclass(frozen=True, kw_only=True)
class FlowGrpoLoss:
    """The loss's settings (AgentFlow's values)."""

    clip_low: float = 0.2
    clip_high: float = 0.2
    kl_coef: float = 0.001


def encode_row(tokenizer: Any, row: dict[str, Any], max_length: int) -> tuple[list[int], int]:
    """Token ids of prompt + completion, and where the completion starts.

    The completion ends with the chat template's end-of-turn token (or EOS for plain
    text), so the policy also learns where to stop. A row too long loses the start of
    its prompt, then the end of its completion. A row with ``completion_ids`` (the
    tokens a rollout server sampled) trains on those ids, not on its text re-tokenised.
    """
    prompt, completion = row["prompt"], row["completion"]
    if row.get("completion_ids") and not isinstance(prompt, str):
        return _encode_sampled(tokenizer, row, max_length)
    if isinstance(prompt, str):
        prompt_text, completion_text = prompt, completion + (tokenizer.eos_token or "")
    else:
        prompt_text = tokenizer.apply_chat_template(
            prompt, add_generation_prompt=True, tokenize=False
        )
        full = tokenizer.apply_chat_template([*prompt, *completion], tokenize=False)
        if full.startswith(prompt_text):
            completion_text = full[len(prompt_text) :]
        else:  # a template that rewrites earlier turns: fall back to plain concatenation
            text = "".join(message["content"] for message in completion)
            completion_text = text + (tokenizer.eos_token or "")
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(completion_text, add_special_tokens=False)["input_ids"]
    completion_ids = completion_ids[:max_length]
    keep = max(max_length - len(completion_ids), 0)
    prompt_ids = prompt_ids[len(prompt_ids) - keep :] if keep else []
    return [*prompt_ids, *completion_ids], len(prompt_ids)


def _encode_sampled(tokenizer: Any, row: dict[str, Any], max_length: int) -> tuple[list[int], int]:
    """Prompt ids from the chat template, then the tokens the server sampled, as they
    were (no re-tokenisation of their text), then the template's end of turn."""
    prompt_text = tokenizer.apply_chat_template(
        row["prompt"], add_generation_prompt=True, tokenize=False
    )
    marker = "\x00"
    full = tokenizer.apply_chat_template(
        [*row["prompt"], {"role": "assistant", "content": marker}], tokenize=False
    )
    end = full[full.find(marker) + 1 :] if marker in full else (tokenizer.eos_token or "")
    end_ids = tokenizer(end, add_special_tokens=False)["input_ids"]
    sampled = [int(i) for i in row["completion_ids"]]
    if end_ids and sampled[-len(end_ids[:1]) :] == end_ids[:1]:
        end_ids = end_ids[1:]  # the server's reply already ends with the end-of-turn token
    completion_ids = [*sampled, *end_ids][:max_length]
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    keep = max(max_length - len(completion_ids), 0)
    prompt_ids = prompt_ids[len(prompt_ids) - keep :] if keep else []
    return [*prompt_ids, *completion_ids], len(prompt_ids)


def train_flow_grpo(
    rows: Sequence[dict[str, Any]],
    *,
    base: str,
    out: str | Path,
    options: TrainOptions | None = None,
    loss: FlowGrpoLoss | None = None,
    reference: str | None = None,
    stop: threading.Event | None = None,
    adapter: str | Path | None = None,
) -> TrainResult:
    """One Flow-GRPO update of the policy ``base`` on ``rows``; the model goes to ``out``.

    Args:
        rows: flow-grpo rows (prompt, completion, advantage).
        base: The current policy: ``local`` or a model directory.
        out: Directory for checkpoints and the updated model.
        options: Training options (default :data:`FLOW_GRPO_DEFAULTS`).
        loss: Clip range and KL weight (AgentFlow's by default).
        reference: The model the KL term keeps close to (the policy before the first
            iteration); ``None`` means ``base`` itself.
        stop: Set from another thread to end training after its current step
            (:class:`~workforce_graph.training.options.TrainingStopped`, nothing saved).
        adapter: A LoRA adapter of ``base`` to go on training (the policy is ``base``
            with it; the KL reference is ``base`` without it unless ``reference`` names
            another model). A vLLM rollout server serves ``base`` with each version's
            adapter, so each update continues the last one instead of stacking a new one.

    Returns:
        The updated model's directory, the logged losses and the throughput.
    """
    options = options or FLOW_GRPO_DEFAULTS
    loss = loss or FlowGrpoLoss()
    checked = check_rows(((f"row {i + 1}", row) for i, row in enumerate(rows)), "flow-grpo")
    out = output_folder(out, holds="the model")
    require_training_packages()
    from transformers import TrainingArguments

    resume_point(out, options)
    device = pick_device(options.device)
    # Warnings and loading bars of the libraries would drown the training bar.
    with quiet_libraries():
        model, tokenizer, base_path = load_for_training(base, device, frozen=options.lora)
        model = model.to(device)
        encoded = [encode_row(tokenizer, row, options.max_length) for row in checked]
        if adapter is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
        old = _completion_logps(model, encoded, device, options.batch_size)
        ref = old
        if loss.kl_coef and reference is not None and reference != base:
            ref_model, _, _ = load_for_training(reference, device, frozen=True)
            ref = _completion_logps(ref_model.to(device), encoded, device, options.batch_size)
            del ref_model
        elif loss.kl_coef and adapter is not None:
            with model.disable_adapter():
                ref = _completion_logps(model, encoded, device, options.batch_size)
        if options.lora and adapter is None:
            from peft import get_peft_model

            model = get_peft_model(model, lora_config(options))
        dataset = [
            {
                "input_ids": ids,
                "start": start,
                "old": old[i],
                "ref": ref[i],
                "advantage": row["advantage"],
            }
            for i, ((ids, start), row) in enumerate(zip(encoded, checked, strict=True))
        ]
        arguments = TrainingArguments(
            **trainer_arguments(options, out, device), remove_unused_columns=False
        )
        trainer = _FlowGrpoTrainer(
            model=model,
            args=arguments,
            train_dataset=dataset,
            data_collator=_Collator(tokenizer.pad_token_id or 0),
            processing_class=tokenizer,
            loss_settings=loss,
        )
        return run_trainer(
            trainer,
            tokenizer,
            out,
            kind="flow-grpo",
            base=base_path,
            rows=len(checked),
            options=options,
            settings={
                "reference": str(reference or base),
                **{f"loss_{k}": v for k, v in asdict(loss).items()},
            },
            stop=stop,
        )


def _completion_logps(
    model: Any, encoded: list[tuple[list[int], int]], device: str, batch: int
) -> list[list[float]]:
    """Per-token log-probabilities (``len(ids) - 1`` each) of every row, without grad."""
    import torch

    collate = _Collator(0)
    out: list[list[float]] = []
    model.eval()
    with torch.no_grad():
        for first in range(0, len(encoded), batch):
            chunk = encoded[first : first + batch]
            inputs = collate(
                [{"input_ids": ids, "start": start, "advantage": 0.0} for ids, start in chunk]
            )
            logits = model(
                input_ids=inputs["input_ids"].to(device),
                attention_mask=inputs["attention_mask"].to(device),
            ).logits
            logps = token_logps(logits, inputs["input_ids"].to(device)).cpu()
            out.extend(logps[i, : len(ids) - 1].tolist() for i, (ids, _) in enumerate(chunk))
    model.train()
    return out


class _Collator:
    """Right-pads a batch; the mask marks completion tokens in next-token positions."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(features), width), dtype=torch.long)
        mask = torch.zeros((len(features), width - 1))
        old = torch.zeros((len(features), width - 1))
        ref = torch.zeros((len(features), width - 1))
        for i, feature in enumerate(features):
            length = len(feature["input_ids"])
            ids[i, :length] = torch.tensor(feature["input_ids"])
            attention[i, :length] = 1
            # Position j predicts token j + 1: completion tokens start at start - 1.
            mask[i, max(feature["start"] - 1, 0) : length - 1] = 1
            if "old" in feature:
                old[i, : length - 1] = torch.tensor(feature["old"])
                ref[i, : length - 1] = torch.tensor(feature["ref"])
        advantages = torch.tensor([float(f["advantage"]) for f in features])
        return {
            "input_ids": ids,
            "attention_mask": attention,
            "completion_mask": mask,
            "old_logps": old,
            "ref_logps": ref,
            "advantages": advantages,
        }


def _trainer_class() -> type[Any]:
    from transformers import Trainer

    class FlowGrpoTrainer(Trainer):
        def __init__(self, *args: Any, loss_settings: FlowGrpoLoss, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.loss_settings = loss_settings
            # The loss is ours: Trainer must scale it for gradient accumulation itself.
            self.model_accepts_loss_kwargs = False
            self._seen: dict[str, list[float]] = {"kl": [], "clipped": []}

        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            logits = model(
                input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]
            ).logits
            settings = self.loss_settings
            result = clipped_policy_loss(
                token_logps(logits, inputs["input_ids"]),
                inputs["old_logps"],
                inputs["advantages"],
                inputs["completion_mask"],
                clip_low=settings.clip_low,
                clip_high=settings.clip_high,
                ref_logps=inputs["ref_logps"],
                kl_coef=settings.kl_coef,
            )
            self._seen["kl"].append(result.kl)
            self._seen["clipped"].append(result.clipped_fraction)
            return (result.loss, {"logits": logits}) if return_outputs else result.loss

        def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
            if "loss" in logs:
                for name, values in self._seen.items():
                    if values:
                        logs[name] = sum(values) / len(values)
                        values.clear()
            super().log(logs, *args, **kwargs)

    return FlowGrpoTrainer


def _FlowGrpoTrainer(**kwargs: Any) -> Any:
    return _trainer_class()(**kwargs)
