"""Time value of money: net present value, internal rate of return, loan amortisation.

Conventions: rates are decimals per period (``0.05`` is 5 %), and the first cash flow
happens now (``t = 0``) and is not discounted, as in numpy-financial. Spreadsheet
``NPV()`` discounts its first value by one period; add the time-0 flow yourself there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "AmortisationRow",
    "NoIrrError",
    "amortisation_schedule",
    "irr",
    "irr_all",
    "loan_payment",
    "npv",
]

# The IRR search covers growth factors 1 + r in [_G_MIN, _G_MAX], i.e. rates from
# -99.99 % to +999,900 % per period: wider than any real investment, narrow enough
# that the scaled polynomial below stays far from float overflow.
_G_MIN = 1e-4
_G_MAX = 1e4
_GRID_POINTS = 2000


class NoIrrError(ValueError):
    """The cash flows have no internal rate of return in the searched range."""


def _check_cashflows(cashflows: Sequence[float]) -> list[float]:
    flows = [float(c) for c in cashflows]
    if not flows:
        raise ValueError("cash flows must not be empty")
    if not all(math.isfinite(c) for c in flows):
        raise ValueError("cash flows must be finite numbers (no NaN or infinity)")
    return flows


def npv(rate: float, cashflows: Sequence[float]) -> float:
    """Net present value of cash flows at one rate per period.

    Args:
        rate: Discount rate per period as a decimal; must be greater than -1.
        cashflows: Cash flows per period, the first at time 0 (not discounted).

    Returns:
        ``sum(c_t / (1 + rate) ** t)``.

    Raises:
        ValueError: On an empty list, non-finite values or ``rate <= -1``.

    Example:
        >>> round(npv(0.10, [-1000, 300, 400, 500]), 2)
        -21.04
    """
    flows = _check_cashflows(cashflows)
    if not math.isfinite(rate) or rate <= -1:
        raise ValueError(f"rate must be a finite decimal greater than -1, got {rate}")
    v = 1.0 / (1.0 + rate)
    # Horner's scheme in the discount factor: one multiplication per flow, no pow().
    acc = 0.0
    for c in reversed(flows):
        acc = acc * v + c
    return acc


def _scaled_npv(flows: Sequence[float], g: float) -> float:
    """NPV at growth factor ``g`` multiplied by a positive factor: same sign, same roots.

    For ``g >= 1`` it is the plain NPV (powers of ``1/g`` cannot overflow); for
    ``g < 1`` it is ``NPV * g**n``, a polynomial in ``g`` whose powers cannot overflow.
    """
    acc = 0.0
    if g >= 1.0:
        v = 1.0 / g
        for c in reversed(flows):
            acc = acc * v + c
    else:
        for c in flows:
            acc = acc * g + c
    return acc


def _bisect(flows: Sequence[float], lo: float, hi: float, f_lo: float) -> float:
    # Plain bisection: slower than Newton but it cannot leave the bracket or diverge.
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        f_mid = _scaled_npv(flows, mid)
        if f_mid == 0.0:
            return mid
        if (f_mid < 0) == (f_lo < 0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * hi:
            break
    return 0.5 * (lo + hi)


def irr_all(cashflows: Sequence[float]) -> list[float]:
    """Every internal rate of return found between -99.99 % and +999,900 % per period.

    Cash flows whose sign changes more than once can have several IRRs; this lists
    each root where the NPV changes sign on a fine logarithmic grid of rates.

    Args:
        cashflows: Cash flows per period, the first at time 0.

    Returns:
        The rates (decimals per period) where NPV is zero, ascending; may be empty.

    Raises:
        ValueError: On an empty list, non-finite values, or flows that are not a mix
            of negative and positive values.

    Example:
        >>> [round(r, 6) for r in irr_all([-100, 230, -132])]
        [0.1, 0.2]
    """
    flows = _check_cashflows(cashflows)
    if not (any(c < 0 for c in flows) and any(c > 0 for c in flows)):
        raise NoIrrError(
            "an IRR needs at least one negative and one positive cash flow "
            "(an investment and a return)"
        )
    step = math.log(_G_MAX / _G_MIN) / _GRID_POINTS
    roots: list[float] = []
    g_prev = _G_MIN
    f_prev = _scaled_npv(flows, g_prev)
    if f_prev == 0.0:
        roots.append(g_prev)
    for i in range(1, _GRID_POINTS + 1):
        g = _G_MIN * math.exp(step * i)
        f = _scaled_npv(flows, g)
        if f == 0.0:
            roots.append(g)
        elif f_prev != 0.0 and (f < 0) != (f_prev < 0):
            roots.append(_bisect(flows, g_prev, g, f_prev))
        g_prev, f_prev = g, f
    return [g - 1.0 for g in roots]


def irr(cashflows: Sequence[float], *, guess: float = 0.1) -> float:
    """Internal rate of return: the rate per period at which NPV is zero.

    The root is bracketed on a grid of rates and refined by bisection, so it never
    diverges the way Newton's method can. When several rates qualify (cash flows
    that change sign more than once) the one closest to ``guess`` is returned; use
    :func:`irr_all` to see them all.

    Args:
        cashflows: Cash flows per period, the first at time 0.
        guess: Picks among several IRRs; it does not affect a unique one.

    Returns:
        The IRR as a decimal per period.

    Raises:
        NoIrrError: When the flows lack a sign change or NPV never crosses zero
            between -99.99 % and +999,900 %.
        ValueError: On an empty list or non-finite values.

    Example:
        >>> round(irr([-100, 39, 59, 55, 20]), 5)
        0.28095
    """
    roots = irr_all(cashflows)
    if not roots:
        raise NoIrrError(
            "no IRR: the NPV of these cash flows does not cross zero for any rate "
            "between -99.99% and +999,900% per period"
        )
    return min(roots, key=lambda r: abs(r - guess))


def _check_loan(principal: float, rate: float, periods: int) -> None:
    if not math.isfinite(principal) or principal <= 0:
        raise ValueError(f"principal must be a positive number, got {principal}")
    if not math.isfinite(rate) or rate < 0:
        raise ValueError(f"rate per period must be a decimal >= 0, got {rate}")
    if isinstance(periods, bool) or not isinstance(periods, int) or periods <= 0:
        raise ValueError(f"number of periods must be a positive whole number, got {periods}")


def loan_payment(principal: float, rate: float, periods: int) -> float:
    """Level payment per period that repays a loan (annuity formula).

    Args:
        principal: Amount borrowed; positive.
        rate: Interest rate per period as a decimal, e.g. ``0.05 / 12`` for 5 % a
            year paid monthly; ``0`` is allowed.
        periods: Number of payments; a positive integer.

    Returns:
        The payment per period, paid at the end of each period.

    Raises:
        ValueError: On a non-positive principal, a negative rate or a bad period count.

    Example:
        >>> round(loan_payment(200_000, 0.065 / 12, 360), 2)
        1264.14
    """
    _check_loan(principal, rate, periods)
    if rate == 0:
        return principal / periods
    # -expm1(-n*log1p(r)) is 1 - (1+r)^-n without cancellation for tiny rates.
    return principal * rate / -math.expm1(-periods * math.log1p(rate))


@dataclass(frozen=True)
class AmortisationRow:
    """One payment of a loan."""

    period: int
    payment: float
    interest: float
    principal: float
    balance: float
    """Balance left after this payment."""


def amortisation_schedule(principal: float, rate: float, periods: int) -> list[AmortisationRow]:
    """Payment-by-payment split of a level-payment loan into interest and principal.

    The last payment absorbs floating-point residue so that the balance ends at
    exactly zero and the principal parts sum to the amount borrowed.

    Args:
        principal: Amount borrowed; positive.
        rate: Interest rate per period as a decimal; ``0`` is allowed.
        periods: Number of payments; a positive integer.

    Returns:
        One row per period, in order.

    Raises:
        ValueError: As :func:`loan_payment`.

    Example:
        >>> rows = amortisation_schedule(1000, 0.01, 12)
        >>> round(rows[0].interest, 2), rows[-1].balance
        (10.0, 0.0)
    """
    payment = loan_payment(principal, rate, periods)
    rows: list[AmortisationRow] = []
    balance = principal
    for period in range(1, periods + 1):
        interest = balance * rate
        if period == periods:
            repaid = balance
            pay = interest + repaid
        else:
            repaid = payment - interest
            pay = payment
        balance = 0.0 if period == periods else balance - repaid
        rows.append(AmortisationRow(period, pay, interest, repaid, balance))
    return rows
