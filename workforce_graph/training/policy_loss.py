"""Flow-GRPO's policy loss: a clipped probability ratio weighted by a given advantage.

Why not TRL's ``GRPOTrainer``: it generates its own completions and normalises rewards
per prompt, so it cannot take the per-turn advantages that Flow-GRPO computes over
whole trajectories of the flow (the outcome broadcast to every planner turn, normalised
within the group of a question). This is the PPO/GRPO surrogate over given
(prompt, completion, advantage) rows:

    ratio_t = exp(log p(token_t) - log p_old(token_t))
    loss_t  = -min(ratio_t * A, clip(ratio_t, 1 - eps_low, 1 + eps_high) * A)
              + kl_coef * KL_t(policy || reference)

with the k3 estimator ``exp(ref - new) - (ref - new) - 1`` for the KL (never negative,
as in GRPO and verl). Token losses are averaged per completion, then over the batch
(GRPO's sequence mean, so a long completion does not outweigh a short one). With one
update per batch the ratio is 1 and the loss reduces to ``-A * mean log p``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["PolicyLoss", "clipped_policy_loss", "token_logps"]


@dataclass(frozen=True)
class PolicyLoss:
    """The loss and what it is made of (for logging)."""

    loss: torch.Tensor
    kl: float
    clipped_fraction: float
    """Share of completion tokens whose ratio left the clip range."""


def token_logps(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """Log-probability of each next token: ``[B, T]`` logits -> ``[B, T - 1]``."""
    import torch

    shifted = logits[:, :-1, :].float()
    targets = input_ids[:, 1:].unsqueeze(-1)
    picked = torch.gather(shifted, -1, targets).squeeze(-1)
    return picked - torch.logsumexp(shifted, dim=-1)


def clipped_policy_loss(
    logps: torch.Tensor,
    old_logps: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    ref_logps: torch.Tensor | None = None,
    kl_coef: float = 0.0,
) -> PolicyLoss:
    """The clipped surrogate loss of a batch.

    Args:
        logps: ``[B, T]`` log-probabilities of the tokens under the policy being trained.
        old_logps: ``[B, T]`` the same under the policy that produced the rollouts.
        advantages: ``[B]`` one advantage per row (Flow-GRPO: the trajectory's).
        mask: ``[B, T]`` 1 on completion tokens, 0 on prompt and padding.
        clip_low: ``eps_low`` (AgentFlow: 0.2).
        clip_high: ``eps_high`` (AgentFlow: 0.2; its code allows 0.3).
        ref_logps: ``[B, T]`` under the reference model, for the KL penalty.
        kl_coef: Weight of the KL penalty (AgentFlow: 0.001; 0 turns it off).

    Returns:
        The loss to minimise, the mean KL and the clipped fraction.
    """
    import torch

    mask = mask.to(logps.dtype)
    ratio = torch.exp(logps - old_logps)
    advantage = advantages.to(logps.dtype).unsqueeze(-1)
    unclipped = ratio * advantage
    clipped = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high) * advantage
    per_token = -torch.minimum(unclipped, clipped)
    kl_value = 0.0
    if ref_logps is not None and kl_coef:
        delta = ref_logps - logps
        kl = torch.exp(delta) - delta - 1.0
        per_token = per_token + kl_coef * kl
        kl_value = float(((kl * mask).sum() / mask.sum().clamp(min=1)).detach())
    lengths = mask.sum(dim=-1).clamp(min=1)
    loss = ((per_token * mask).sum(dim=-1) / lengths).mean()
    outside = ((ratio < 1.0 - clip_low) | (ratio > 1.0 + clip_high)).to(mask.dtype) * mask
    fraction = float((outside.sum() / mask.sum().clamp(min=1)).detach())
    return PolicyLoss(loss=loss, kl=kl_value, clipped_fraction=fraction)
