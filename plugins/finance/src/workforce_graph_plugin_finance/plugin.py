"""The finance worker's declaration: everything workforce-graph needs to plan for it.

Installing this package registers the module below under the ``workforce_graph``
entry-point group (see ``pyproject.toml``); workforce-graph loads it with pluggy.
"""

from __future__ import annotations

from collections.abc import Callable

from workforce_graph.hookspecs import hookimpl
from workforce_graph.workers import WorkerSpec
from workforce_graph_plugin_finance.tools import FINANCE_TOOLS

__all__ = ["FINANCE_WORKER", "register_workers"]

FINANCE_WORKER = WorkerSpec(
    name="finance",
    description=(
        "Financial maths with exact tools: NPV, IRR and loan amortisation; returns, "
        "volatility, Sharpe ratio and maximum drawdown of a CSV of prices."
    ),
    capabilities=("finance", "time_value_of_money", "portfolio_analytics"),
    tools=FINANCE_TOOLS,
    # The price tools read the CSV files attached to the request; declaring it lets a
    # request about "the attached prices.csv" be answered as complete.
    reads_attachments=True,
    system_prompt=(
        "You are a financial analyst. Compute every figure with a tool, never by hand. "
        "Rates are decimals (0.05 is 5%). Price data comes from the request's attached "
        "CSV files or from CSV text in the request. State each result with its units, "
        "period and assumptions (risk-free rate, periods per year). If the data needed "
        "is missing, answer 'FAILED: ' followed by what is missing."
    ),
    limitations=(
        "Reads prices only from CSV files attached to the request or CSV text in it; "
        "cannot fetch market data.",
        "No tax, fees, inflation or currency conversion.",
        "Cash flows must be evenly spaced periods (no XIRR over irregular dates).",
    ),
    examples=(
        "What is the NPV at 8% of -1000 now then 300, 400, 500 over three years?",
        "Monthly payment and total interest on a 250,000 mortgage at 5.5% over 25 years.",
        "Annualised volatility, Sharpe ratio at a 4% risk-free rate and maximum drawdown "
        "of the attached prices.csv.",
    ),
)


@hookimpl
def register_workers(register: Callable[[WorkerSpec], None]) -> None:
    """Register the finance worker."""
    register(FINANCE_WORKER)
