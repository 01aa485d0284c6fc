"""The finance worker's time-value-of-money tools: NPV, IRR, loan amortisation."""

from __future__ import annotations

import math
from typing import Any, Literal

from langchain_core.tools import ToolException, tool
from pydantic import BaseModel, Field

from workforce_graph_plugin_finance import tvm
from workforce_graph_plugin_finance.tool_common import MAX_SCHEDULE_ROWS, FiniteFloat, num, pct

__all__ = ["irr_tool", "loan_amortisation_tool", "npv_tool"]


# --- time value of money --------------------------------------------------------------


class NpvArgs(BaseModel):
    rate: float = Field(
        gt=-1,
        allow_inf_nan=False,
        description="Discount rate per period as a decimal: 0.08 for 8%.",
    )
    cashflows: list[FiniteFloat] = Field(
        min_length=1,
        max_length=10_000,
        description="Cash flow of each period, the first at time 0 (not discounted); "
        "money paid out is negative.",
    )


@tool("npv", args_schema=NpvArgs)
def npv_tool(rate: float, cashflows: list[float]) -> dict[str, Any]:
    """Net present value of periodic cash flows at a discount rate per period."""
    return {"npv": num(tvm.npv(rate, cashflows)), "rate": rate, "periods": len(cashflows)}


class IrrArgs(BaseModel):
    cashflows: list[FiniteFloat] = Field(
        min_length=2,
        max_length=10_000,
        description="Cash flow of each period, the first at time 0; needs at least one "
        "negative (investment) and one positive value.",
    )
    guess: float = Field(
        default=0.1,
        gt=-1,
        allow_inf_nan=False,
        description="Only used to choose when several rates solve NPV = 0.",
    )


@tool("irr", args_schema=IrrArgs)
def irr_tool(cashflows: list[float], guess: float = 0.1) -> dict[str, Any]:
    """Internal rate of return per period of periodic cash flows (the rate where NPV is 0)."""
    try:
        roots = tvm.irr_all(cashflows)
        rate = tvm.irr(cashflows, guess=guess)
    except tvm.NoIrrError as exc:
        raise ToolException(str(exc)) from None
    out: dict[str, Any] = {"irr": num(rate), "irr_percent": pct(rate)}
    if len(roots) > 1:
        out["all_irrs"] = [num(r) for r in roots]
        out["note"] = "the cash flows change sign more than once, so several rates solve NPV = 0"
    return out


class LoanArgs(BaseModel):
    principal: float = Field(gt=0, allow_inf_nan=False, description="Amount borrowed.")
    annual_rate: float = Field(
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Nominal annual interest rate as a decimal: 0.065 for 6.5%.",
    )
    years: float = Field(gt=0, le=100, allow_inf_nan=False, description="Term in years.")
    payments_per_year: int = Field(
        default=12, ge=1, le=365, description="12 for monthly payments, 52 weekly, 1 yearly."
    )
    schedule: Literal["none", "yearly", "full"] = Field(
        default="yearly",
        description="'yearly' totals per year, 'full' one row per payment, 'none' summary only.",
    )


@tool("loan_amortisation", args_schema=LoanArgs)
def loan_amortisation_tool(
    principal: float,
    annual_rate: float,
    years: float,
    payments_per_year: int = 12,
    schedule: Literal["none", "yearly", "full"] = "yearly",
) -> dict[str, Any]:
    """Level payment of a loan and its amortisation schedule (interest vs principal)."""
    n = round(years * payments_per_year)
    if n < 1 or not math.isclose(n, years * payments_per_year, abs_tol=1e-6):
        raise ToolException(
            f"{years} years of {payments_per_year} payments a year is not a whole number "
            "of payments; adjust years or payments_per_year"
        )
    if schedule == "full" and n > MAX_SCHEDULE_ROWS:
        raise ToolException(
            f"{n} payments is too long a schedule to list; ask for schedule='yearly'"
        )
    rows = tvm.amortisation_schedule(principal, annual_rate / payments_per_year, n)
    total_interest = math.fsum(r.interest for r in rows)
    out: dict[str, Any] = {
        "payment": round(rows[0].payment, 2),
        "number_of_payments": n,
        "total_paid": round(principal + total_interest, 2),
        "total_interest": round(total_interest, 2),
    }
    if schedule == "full":
        out["schedule"] = [
            {
                "period": r.period,
                "payment": round(r.payment, 2),
                "interest": round(r.interest, 2),
                "principal": round(r.principal, 2),
                "balance": round(r.balance, 2),
            }
            for r in rows
        ]
    elif schedule == "yearly":
        out["schedule"] = [
            {
                "year": y + 1,
                "paid": round(math.fsum(r.payment for r in chunk), 2),
                "interest": round(math.fsum(r.interest for r in chunk), 2),
                "principal": round(math.fsum(r.principal for r in chunk), 2),
                "balance": round(chunk[-1].balance, 2),
            }
            for y in range(math.ceil(n / payments_per_year))
            for chunk in [rows[y * payments_per_year : (y + 1) * payments_per_year]]
        ]
    return out
