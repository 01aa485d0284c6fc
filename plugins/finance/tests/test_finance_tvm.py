"""Time-value-of-money maths against textbook and numpy-financial reference values."""

from __future__ import annotations

import itertools
import math

import pytest
from workforce_graph_plugin_finance import tvm


def test_npv_discounts_from_the_second_flow() -> None:
    # -1000 + 300/1.1 + 400/1.1^2 + 500/1.1^3
    assert tvm.npv(0.10, [-1000, 300, 400, 500]) == pytest.approx(-21.0368, abs=1e-4)
    assert tvm.npv(0.0, [-5, 2, 3]) == 0
    assert tvm.npv(0.5, [42]) == 42


@pytest.mark.parametrize("rate", [-1.0, -2.0, math.nan, math.inf])
def test_npv_rejects_rates_at_or_below_minus_one(rate: float) -> None:
    with pytest.raises(ValueError, match="rate"):
        tvm.npv(rate, [1, 2])


def test_npv_rejects_empty_and_non_finite_flows() -> None:
    with pytest.raises(ValueError, match="empty"):
        tvm.npv(0.1, [])
    with pytest.raises(ValueError, match="finite"):
        tvm.npv(0.1, [1, math.nan])


@pytest.mark.parametrize(
    ("flows", "expected"),
    [
        # Reference values from the numpy-financial documentation.
        ([-100, 39, 59, 55, 20], 0.28094842116),
        ([-100, 0, 0, 74], -0.0954958894),
        ([-100, 100, 0, -7], -0.0833),
        ([-100, 100, 0, 7], 0.06206),
        ([-5, 10.5, 1, -8, 1], 0.0886),
    ],
)
def test_irr_matches_reference_values(flows: list[float], expected: float) -> None:
    rate = tvm.irr(flows)
    assert rate == pytest.approx(expected, abs=1e-4)
    assert tvm.npv(rate, flows) == pytest.approx(0, abs=1e-9)


def test_irr_is_precise_at_the_root() -> None:
    assert tvm.irr([-100, 39, 59, 55, 20]) == pytest.approx(0.28094842116, abs=1e-10)


def test_irr_handles_long_series_without_overflow() -> None:
    flows = [-1000.0] + [10.0] * 400  # 400 periods at just under 1 %
    rate = tvm.irr(flows)
    assert tvm.npv(rate, flows) == pytest.approx(0, abs=1e-6)
    assert 0 < rate < 0.01


def test_irr_all_lists_every_root_and_irr_picks_the_one_nearest_the_guess() -> None:
    flows = [-100, 230, -132]  # (1+r) = 1.1 or 1.2
    assert tvm.irr_all(flows) == pytest.approx([0.1, 0.2], abs=1e-9)
    assert tvm.irr(flows, guess=0.0) == pytest.approx(0.1, abs=1e-9)
    assert tvm.irr(flows, guess=0.5) == pytest.approx(0.2, abs=1e-9)


def test_irr_without_a_sign_change_is_a_clear_error() -> None:
    with pytest.raises(tvm.NoIrrError, match="one negative and one positive"):
        tvm.irr([100, 50, 20])
    with pytest.raises(tvm.NoIrrError, match="one negative and one positive"):
        tvm.irr([0, 0])


def test_irr_when_npv_never_crosses_zero_is_a_clear_error() -> None:
    # NPV * (1+r)^2 = g^2 - 3g + 3 > 0 for every g: signs change but no rate works.
    with pytest.raises(tvm.NoIrrError, match="does not cross zero"):
        tvm.irr([1, -3, 3])


def test_loan_payment_known_mortgage() -> None:
    assert tvm.loan_payment(200_000, 0.065 / 12, 360) == pytest.approx(1264.136, abs=1e-3)
    assert tvm.loan_payment(1200, 0.0, 12) == 100
    # A tiny rate must approach principal / periods, not blow up in cancellation.
    assert tvm.loan_payment(1200, 1e-14, 12) == pytest.approx(100, rel=1e-9)


@pytest.mark.parametrize(
    ("principal", "rate", "periods", "match"),
    [
        (0, 0.01, 12, "principal"),
        (-5, 0.01, 12, "principal"),
        (1000, -0.01, 12, "rate"),
        (1000, 0.01, 0, "periods"),
        (1000, 0.01, 1.5, "periods"),
        (1000, 0.01, True, "periods"),
    ],
)
def test_loan_rejects_bad_inputs(principal: float, rate: float, periods: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tvm.loan_payment(principal, rate, periods)


def test_amortisation_schedule_repays_exactly_the_principal() -> None:
    rows = tvm.amortisation_schedule(200_000, 0.065 / 12, 360)
    assert len(rows) == 360
    assert [r.period for r in rows] == list(range(1, 361))
    assert math.fsum(r.principal for r in rows) == pytest.approx(200_000, abs=1e-6)
    assert rows[-1].balance == 0.0
    assert rows[0].interest == pytest.approx(200_000 * 0.065 / 12)
    total_paid = math.fsum(r.payment for r in rows)
    assert total_paid == pytest.approx(360 * 1264.136, abs=0.5)
    assert total_paid - 200_000 == pytest.approx(math.fsum(r.interest for r in rows), abs=1e-6)
    # Interest falls and principal grows as the balance is paid down.
    assert all(a.interest > b.interest for a, b in itertools.pairwise(rows))
    assert all(a.balance > b.balance for a, b in itertools.pairwise(rows))


def test_amortisation_schedule_at_zero_rate() -> None:
    rows = tvm.amortisation_schedule(1000, 0.0, 4)
    assert [r.payment for r in rows] == [250, 250, 250, 250]
    assert [r.balance for r in rows] == [750, 500, 250, 0]
    assert all(r.interest == 0 for r in rows)
