"""The finance worker's price tools: returns, volatility, Sharpe ratio, drawdown.

Prices come from a CSV file given with the request (see :func:`resolve_attachment`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, ParamSpec, TypeVar

from langchain_core.tools import ToolException, tool
from pydantic import BaseModel, Field, model_validator

from workforce_graph.workers import SubtaskFailed, get_subtask_context
from workforce_graph_plugin_finance import prices as px
from workforce_graph_plugin_finance.tool_common import num, pct

__all__ = [
    "max_drawdown_tool",
    "price_returns_tool",
    "price_volatility_tool",
    "resolve_attachment",
    "sharpe_ratio_tool",
]

P = ParamSpec("P")
T = TypeVar("T")


# --- price series ---------------------------------------------------------------------


def resolve_attachment(csv_file: str | None) -> Path:
    """Map a file name the model gave to one of the request's attachments.

    Args:
        csv_file: An attachment's file name or full path; ``None`` picks the only one.

    Returns:
        The attachment's path. Outside a worker run (direct library use) the name is
        taken as a path as it stands.

    Raises:
        ToolException: The name is not an attachment or is ambiguous.

    Example:
        >>> resolve_attachment("prices.csv").name  # outside a run: used as given
        'prices.csv'
    """
    try:
        attachments = [Path(a) for a in get_subtask_context()["attachments"]]
    except RuntimeError:
        if csv_file is None:
            raise ToolException("give csv_file (a path) or csv_text") from None
        return Path(csv_file)
    names = ", ".join(a.name for a in attachments) or "none"
    if csv_file is None:
        if len(attachments) == 1:
            return attachments[0]
        raise ToolException(
            f"say which file to read with csv_file (attachments: {names}), or pass csv_text"
        )
    exact = [a for a in attachments if str(a) == csv_file]
    by_name = [a for a in attachments if a.name == Path(csv_file).name]
    matches = exact or by_name
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ToolException(f"several attachments are named {csv_file!r}; give the full path")
    raise ToolException(
        f"{csv_file!r} is not attached to this request (attachments: {names}); "
        "only attached files can be read, or pass the CSV as csv_text"
    )


class PriceSourceArgs(BaseModel):
    csv_file: str | None = Field(
        default=None,
        description="File name of the attached prices CSV; may be left out when exactly "
        "one file is attached.",
    )
    csv_text: str | None = Field(
        default=None,
        max_length=2_000_000,
        description="The CSV itself, when the prices were given inline instead of attached.",
    )
    date_column: str | None = Field(
        default=None, description="Header of the date column; detected when left out."
    )
    price_column: str | None = Field(
        default=None,
        description="Header of the price column; 'Adj Close', 'Close' or 'Price' when left out.",
    )
    date_format: str | None = Field(
        default=None, description="strptime format such as '%d/%m/%Y' when dates are not ISO."
    )

    @model_validator(mode="after")
    def _one_source(self) -> PriceSourceArgs:
        if self.csv_file is not None and self.csv_text is not None:
            raise ValueError("give either csv_file or csv_text, not both")
        return self


class PriceArgs(PriceSourceArgs):
    periods_per_year: float = Field(
        default=252,
        gt=0,
        le=100_000,
        allow_inf_nan=False,
        description="Price rows per year: 252 for daily trading days, 52 weekly, 12 monthly.",
    )


def _load(
    csv_file: str | None,
    csv_text: str | None,
    date_column: str | None,
    price_column: str | None,
    date_format: str | None,
) -> tuple[px.PriceSeries, str]:
    columns = {"date_column": date_column, "price_column": price_column, "date_format": date_format}
    if csv_text is not None:
        try:
            return px.parse_prices(csv_text, **columns), "inline CSV"
        except px.PriceDataError as exc:
            raise ToolException(f"csv_text: {exc}") from None
    path = resolve_attachment(csv_file)
    try:
        return px.load_prices(path, **columns), path.name
    except OSError as exc:
        raise SubtaskFailed(f"cannot read {path.name}: {exc.strerror or exc}") from None
    except px.PriceDataError as exc:
        if exc.argument_error:
            raise ToolException(f"{path.name}: {exc}") from None
        raise SubtaskFailed(f"{path.name} has no usable prices: {exc}") from None


def _source(series: px.PriceSeries, name: str) -> dict[str, Any]:
    return {
        "file": name,
        "prices": len(series.prices),
        "from": series.label(0),
        "to": series.label(-1),
        "date_column": series.date_column,
        "price_column": series.price_column,
    }


def _compute(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    # Too few prices or constant returns: the model can still explain that in its answer.
    try:
        return fn(*args, **kwargs)
    except px.PriceDataError as exc:
        raise ToolException(str(exc)) from None


@tool("price_returns", args_schema=PriceArgs)
def price_returns_tool(
    csv_file: str | None = None,
    csv_text: str | None = None,
    date_column: str | None = None,
    price_column: str | None = None,
    date_format: str | None = None,
    periods_per_year: float = 252,
) -> dict[str, Any]:
    """Total and annualised return, mean period return and best/worst periods of a prices CSV."""
    series, name = _load(csv_file, csv_text, date_column, price_column, date_format)
    simple = _compute(px.simple_returns, series.prices)
    logs = px.log_returns(series.prices)
    best = max(range(len(simple)), key=simple.__getitem__)
    worst = min(range(len(simple)), key=simple.__getitem__)
    return {
        "source": _source(series, name),
        "total_return": num(series.prices[-1] / series.prices[0] - 1),
        "annualised_return": num(px.annualised_return(series.prices, periods_per_year)),
        "mean_simple_return_per_period": num(math.fsum(simple) / len(simple)),
        "mean_log_return_per_period": num(math.fsum(logs) / len(logs)),
        "best_period": {"date": series.label(best + 1), "return": num(simple[best])},
        "worst_period": {"date": series.label(worst + 1), "return": num(simple[worst])},
    }


class VolatilityArgs(PriceArgs):
    return_type: Literal["log", "simple"] = Field(
        default="log", description="Returns to measure: 'log' (usual) or 'simple'."
    )


@tool("price_volatility", args_schema=VolatilityArgs)
def price_volatility_tool(
    csv_file: str | None = None,
    csv_text: str | None = None,
    date_column: str | None = None,
    price_column: str | None = None,
    date_format: str | None = None,
    periods_per_year: float = 252,
    return_type: Literal["log", "simple"] = "log",
) -> dict[str, Any]:
    """Annualised volatility (standard deviation of returns) of a prices CSV."""
    series, name = _load(csv_file, csv_text, date_column, price_column, date_format)
    fn = px.log_returns if return_type == "log" else px.simple_returns
    returns = _compute(fn, series.prices)
    vol = _compute(px.annualised_volatility, returns, periods_per_year)
    return {
        "source": _source(series, name),
        "annualised_volatility": num(vol),
        "period_volatility": num(vol / math.sqrt(periods_per_year)),
        "return_type": return_type,
        "periods_per_year": periods_per_year,
    }


class SharpeArgs(PriceArgs):
    risk_free_rate: float = Field(
        default=0.0,
        gt=-1,
        le=1,
        allow_inf_nan=False,
        description="Annual risk-free rate as a decimal: 0.04 for 4%.",
    )


@tool("sharpe_ratio", args_schema=SharpeArgs)
def sharpe_ratio_tool(
    csv_file: str | None = None,
    csv_text: str | None = None,
    date_column: str | None = None,
    price_column: str | None = None,
    date_format: str | None = None,
    periods_per_year: float = 252,
    risk_free_rate: float = 0.0,
) -> dict[str, Any]:
    """Annualised Sharpe ratio of a prices CSV's simple returns over a risk-free rate."""
    series, name = _load(csv_file, csv_text, date_column, price_column, date_format)
    returns = _compute(px.simple_returns, series.prices)
    ratio = _compute(px.sharpe_ratio, returns, risk_free_rate, periods_per_year)
    return {
        "source": _source(series, name),
        "sharpe_ratio": num(ratio),
        "risk_free_rate": risk_free_rate,
        "periods_per_year": periods_per_year,
    }


@tool("max_drawdown", args_schema=PriceSourceArgs)
def max_drawdown_tool(
    csv_file: str | None = None,
    csv_text: str | None = None,
    date_column: str | None = None,
    price_column: str | None = None,
    date_format: str | None = None,
) -> dict[str, Any]:
    """Maximum drawdown of a prices CSV: largest peak-to-trough fall, with its dates."""
    series, name = _load(csv_file, csv_text, date_column, price_column, date_format)
    dd = px.max_drawdown(series.prices)
    p = series.prices
    return {
        "source": _source(series, name),
        "max_drawdown": num(dd.depth),
        "max_drawdown_percent": pct(dd.depth),
        "peak": {"date": series.label(dd.peak), "price": p[dd.peak]},
        "trough": {"date": series.label(dd.trough), "price": p[dd.trough]},
        "recovered_on": None if dd.recovery is None else series.label(dd.recovery),
    }
