"""Flow-GRPO's clipped policy loss, on hand-made log-probabilities (no model)."""

from __future__ import annotations

import math

import pytest
import torch

from workforce_graph.training.policy_loss import clipped_policy_loss


def _loss(shift: float, advantage: float, **kwargs: float) -> tuple[float, torch.Tensor]:
    """Loss and gradient for one row whose 3 completion tokens moved by ``shift`` nats."""
    old = torch.tensor([[-1.0, -2.0, -0.5]])
    logps = (old + shift).clone().requires_grad_(True)
    result = clipped_policy_loss(
        logps, old, torch.tensor([advantage]), torch.ones_like(old), **kwargs
    )
    result.loss.backward()
    assert logps.grad is not None
    return float(result.loss.detach()), logps.grad


def test_positive_advantage_pushes_log_probability_up_and_negative_down() -> None:
    loss, grad = _loss(0.0, 1.0)
    assert loss == pytest.approx(-1.0)  # ratio 1: -A
    assert (grad < 0).all()  # gradient descent raises every completion token's log p
    loss, grad = _loss(0.0, -2.0)
    assert loss == pytest.approx(2.0)
    assert (grad > 0).all()


def test_the_clip_bounds_the_step() -> None:
    up = math.log(1.5)  # ratio 1.5, beyond 1 + 0.2
    loss, grad = _loss(up, 1.0)
    assert loss == pytest.approx(-1.2)  # the gain is capped at the clip
    assert torch.count_nonzero(grad) == 0  # and no gradient pushes further
    loss, grad = _loss(up, -1.0)
    assert loss == pytest.approx(1.5)  # a loss is never clipped away (pessimistic bound)
    assert (grad > 0).all()
    down = math.log(0.5)
    loss, grad = _loss(down, -1.0)
    assert loss == pytest.approx(0.8)
    assert torch.count_nonzero(grad) == 0
    loss, grad = _loss(up, 1.0, clip_high=0.6)  # a wider range lets the same step through
    assert loss == pytest.approx(-1.5)
    assert (grad < 0).all()


def test_kl_to_the_reference_is_zero_at_the_reference_and_positive_away_from_it() -> None:
    old = torch.tensor([[-1.0, -2.0]])
    mask = torch.ones_like(old)
    same = clipped_policy_loss(old, old, torch.tensor([0.0]), mask, ref_logps=old, kl_coef=0.5)
    assert same.kl == pytest.approx(0.0)
    assert float(same.loss) == pytest.approx(0.0)
    moved = clipped_policy_loss(
        old + 0.3, old + 0.3, torch.tensor([0.0]), mask, ref_logps=old, kl_coef=0.5
    )
    assert moved.kl > 0
    assert float(moved.loss) == pytest.approx(0.5 * moved.kl)


def test_only_completion_tokens_count_and_each_row_weighs_the_same() -> None:
    old = torch.tensor([[-1.0, -1.0, -1.0, -1.0], [-1.0, -1.0, -1.0, -1.0]])
    mask = torch.tensor([[0.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0]])
    base = clipped_policy_loss(old, old, torch.tensor([1.0, -1.0]), mask)
    assert float(base.loss) == pytest.approx(0.0)  # (-1 + 1) / 2: rows, not tokens
    prompt_moved = old.clone()
    prompt_moved[:, 0] += 5.0  # a prompt token changing changes nothing
    assert float(
        clipped_policy_loss(prompt_moved, old, torch.tensor([1.0, -1.0]), mask).loss
    ) == pytest.approx(0.0)
    assert base.clipped_fraction == 0.0
