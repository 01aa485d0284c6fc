"""Price series analytics: load a CSV of prices, then returns, volatility, Sharpe, drawdown.

Returns are per period of the file (daily closes give daily returns); annualised figures
scale by ``periods_per_year`` (252 trading days by default).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

__all__ = [
    "ColumnNotFound",
    "DateFormatError",
    "Drawdown",
    "PriceDataError",
    "PriceSeries",
    "annualised_return",
    "annualised_volatility",
    "load_prices",
    "log_returns",
    "max_drawdown",
    "parse_prices",
    "sharpe_ratio",
    "simple_returns",
]

DATE_COLUMNS = ("date", "datetime", "timestamp", "time", "day")
PRICE_COLUMNS = ("adj close", "adj_close", "adjusted close", "adjclose", "close", "price")


class PriceDataError(ValueError):
    """The price data cannot be used (empty, not numbers, non-positive prices, ...)."""

    argument_error = False
    """True when different arguments (column names, date format) could fix it."""


class ColumnNotFound(PriceDataError):
    """A date or price column is not in the CSV header."""

    argument_error = True


class DateFormatError(PriceDataError):
    """A date cell does not parse with the date format in use."""

    argument_error = True


@dataclass(frozen=True)
class PriceSeries:
    """Prices in date order, with the columns they were read from."""

    dates: tuple[datetime, ...]
    prices: tuple[float, ...]
    date_column: str
    price_column: str

    def label(self, index: int) -> str:
        """The date at ``index`` as ISO text (date only when the time is midnight)."""
        d = self.dates[index]
        if (d.hour, d.minute, d.second, d.microsecond) == (0, 0, 0, 0) and d.tzinfo is None:
            return d.date().isoformat()
        return d.isoformat()


def _pick_column(header: list[str], wanted: str | None, defaults: Sequence[str], kind: str) -> int:
    folded = [h.strip().casefold() for h in header]
    candidates = [wanted] if wanted else list(defaults)
    for name in candidates:
        if name.strip().casefold() in folded:
            return folded.index(name.strip().casefold())
    shown = ", ".join(repr(h) for h in header)
    if wanted:
        raise ColumnNotFound(f"no {kind} column named {wanted!r}; the CSV columns are {shown}")
    raise ColumnNotFound(
        f"no {kind} column found (looked for {', '.join(defaults)}); the CSV columns are "
        f"{shown}; name the {kind} column explicitly"
    )


def _parse_date(text: str, date_format: str | None, row: int) -> datetime:
    value = text.strip()
    try:
        if date_format:
            return datetime.strptime(value, date_format)
        return datetime.fromisoformat(value)
    except ValueError:
        hint = (
            f"does not match the date format {date_format!r}"
            if date_format
            else "is not an ISO date like 2024-01-31; pass a date_format such as '%d/%m/%Y'"
        )
        raise DateFormatError(f"row {row}: date {value!r} {hint}") from None


def _parse_price(text: str, row: int, *, decimal_comma: bool) -> float:
    value = text.strip().removeprefix("$")
    if decimal_comma and "," in value:
        value = value.replace(".", "").replace(",", ".")
    else:
        value = value.replace(",", "")
    try:
        price = float(value)
    except ValueError:
        raise PriceDataError(f"row {row}: price {text.strip()!r} is not a number") from None
    if not math.isfinite(price) or price <= 0:
        raise PriceDataError(f"row {row}: price {text.strip()!r} must be a positive number")
    return price


def parse_prices(
    text: str,
    *,
    date_column: str | None = None,
    price_column: str | None = None,
    date_format: str | None = None,
) -> PriceSeries:
    """Parse CSV text with a header row into a date-sorted price series.

    Args:
        text: The CSV, header first. The separator (comma, semicolon or tab) is the
            one the header uses most; with semicolons, a comma in a price is its
            decimal point (``1.234,5``), elsewhere it separates thousands.
        date_column: Header of the date column (case-insensitive); by default the
            first of ``date, datetime, timestamp, time, day``.
        price_column: Header of the price column; by default the first of
            ``adj close, adj_close, adjusted close, adjclose, close, price``.
        date_format: ``strptime`` format for the dates; ISO 8601 when omitted.

    Returns:
        The prices sorted by date.

    Raises:
        ColumnNotFound: A named or default column is missing (the message lists the
            columns there are).
        DateFormatError: A date does not parse.
        PriceDataError: No rows, a duplicate date, or a price that is not a positive
            number (the message gives the line number, the header being line 1).

    Example:
        >>> s = parse_prices("Date,Close\\n2024-01-03,101\\n2024-01-02,100\\n")
        >>> s.prices, s.label(0)
        ((100.0, 101.0), '2024-01-02')
    """
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise PriceDataError("the CSV is empty")
    # The header decides the separator: csv.Sniffer guesses wrong on two-column files.
    first_line = text.lstrip().splitlines()[0]
    delimiter = max(",;\t", key=first_line.count)
    # Row numbers count blank lines too, so they match what an editor shows.
    rows = [
        (n, r)
        for n, r in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), start=1)
        if any(c.strip() for c in r)
    ]
    # Semicolon-separated files come from locales that write 1.234,5 for 1234.5.
    decimal_comma = delimiter == ";"
    header = rows[0][1]
    d_idx = _pick_column(header, date_column, DATE_COLUMNS, "date")
    p_idx = _pick_column(header, price_column, PRICE_COLUMNS, "price")
    points: dict[datetime, float] = {}
    for n, row in rows[1:]:
        if max(d_idx, p_idx) >= len(row):
            raise PriceDataError(f"row {n} has {len(row)} cells, fewer than the header has")
        when = _parse_date(row[d_idx], date_format, n)
        if when in points:
            raise PriceDataError(f"row {n}: date {row[d_idx].strip()!r} appears twice")
        points[when] = _parse_price(row[p_idx], n, decimal_comma=decimal_comma)
    if not points:
        raise PriceDataError("the CSV has a header but no price rows")
    try:
        ordered = sorted(points.items())
    except TypeError:
        raise DateFormatError(
            "the dates mix values with and without a time zone; use one kind"
        ) from None
    return PriceSeries(
        dates=tuple(d for d, _ in ordered),
        prices=tuple(p for _, p in ordered),
        date_column=header[d_idx].strip(),
        price_column=header[p_idx].strip(),
    )


def load_prices(
    path: str | Path,
    *,
    date_column: str | None = None,
    price_column: str | None = None,
    date_format: str | None = None,
) -> PriceSeries:
    """Read a CSV file of prices; see :func:`parse_prices` for the arguments.

    Raises:
        OSError: The file cannot be read.
        PriceDataError: As :func:`parse_prices`, or the file is not UTF-8 text.

    Example:
        >>> load_prices("prices.csv", price_column="Adj Close")  # doctest: +SKIP
    """
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PriceDataError(f"{Path(path).name} is not UTF-8 text (is it a CSV?)") from None
    return parse_prices(
        text, date_column=date_column, price_column=price_column, date_format=date_format
    )


def _need(prices: Sequence[float], count: int, what: str) -> None:
    if len(prices) < count:
        raise PriceDataError(f"{what} needs at least {count} prices, got {len(prices)}")


def simple_returns(prices: Sequence[float]) -> list[float]:
    """Period-over-period simple returns ``p[t] / p[t-1] - 1``.

    Args:
        prices: Positive prices in date order; at least two.

    Returns:
        One return fewer than there are prices.

    Example:
        >>> [round(r, 4) for r in simple_returns([100, 110, 99])]
        [0.1, -0.1]
    """
    _need(prices, 2, "a return")
    return [b / a - 1.0 for a, b in itertools.pairwise(prices)]


def log_returns(prices: Sequence[float]) -> list[float]:
    """Period-over-period log returns ``ln(p[t] / p[t-1])``; they add up over time.

    Example:
        >>> round(sum(log_returns([100, 110, 121])), 6) == round(math.log(1.21), 6)
        True
    """
    _need(prices, 2, "a return")
    return [math.log(b / a) for a, b in itertools.pairwise(prices)]


def annualised_return(prices: Sequence[float], periods_per_year: float = 252) -> float:
    """Compound annual growth rate over the series, one price per period.

    Example:
        >>> round(annualised_return([100, 121], periods_per_year=0.5), 6)
        0.1
    """
    _need(prices, 2, "an annualised return")
    years = (len(prices) - 1) / periods_per_year
    return float((prices[-1] / prices[0]) ** (1.0 / years) - 1.0)


def annualised_volatility(returns: Sequence[float], periods_per_year: float = 252) -> float:
    """Sample standard deviation of returns scaled by ``sqrt(periods_per_year)``.

    Args:
        returns: Per-period returns (simple or log); at least two.
        periods_per_year: 252 for trading days, 52 weekly, 12 monthly.

    Returns:
        Annualised volatility as a decimal.

    Example:
        >>> round(annualised_volatility([0.01, -0.01, 0.01, -0.01], 252), 4)
        0.1833
    """
    if len(returns) < 2:
        raise PriceDataError(f"volatility needs at least 2 returns (3 prices), got {len(returns)}")
    return statistics.stdev(returns) * math.sqrt(periods_per_year)


def sharpe_ratio(
    returns: Sequence[float], risk_free_rate: float = 0.0, periods_per_year: float = 252
) -> float:
    """Annualised Sharpe ratio: mean excess return over its standard deviation.

    The annual risk-free rate is converted to a per-period rate by compounding,
    ``(1 + rf) ** (1 / periods_per_year) - 1``, and subtracted from every return.

    Args:
        returns: Per-period simple returns; at least two.
        risk_free_rate: Annual risk-free rate as a decimal (``0.04`` is 4 %).
        periods_per_year: 252 for trading days, 52 weekly, 12 monthly.

    Returns:
        ``mean(excess) / stdev(excess) * sqrt(periods_per_year)``.

    Raises:
        PriceDataError: Fewer than two returns, or returns that never vary.

    Example:
        >>> round(sharpe_ratio([0.01, 0.03], 0.0, periods_per_year=1), 4)
        1.4142
    """
    if len(returns) < 2:
        raise PriceDataError(f"a Sharpe ratio needs at least 2 returns, got {len(returns)}")
    if not risk_free_rate > -1:
        raise ValueError(f"risk_free_rate must be a decimal above -1, got {risk_free_rate}")
    rf = math.pow(1.0 + risk_free_rate, 1.0 / periods_per_year) - 1.0
    excess = [r - rf for r in returns]
    sd = statistics.stdev(excess)
    if sd == 0:
        raise PriceDataError("the Sharpe ratio is undefined: the returns never vary")
    return statistics.fmean(excess) / sd * math.sqrt(periods_per_year)


@dataclass(frozen=True)
class Drawdown:
    """The largest peak-to-trough fall of a series, by index into it."""

    depth: float
    """Fall from peak to trough as a positive decimal (0.25 is a 25 % fall)."""
    peak: int
    trough: int
    recovery: int | None
    """First index after the trough back at or above the peak price; None if never."""


def max_drawdown(prices: Sequence[float]) -> Drawdown:
    """Maximum drawdown: the largest fall from a running peak to a later low.

    Args:
        prices: Positive prices in date order; at least one.

    Returns:
        Depth and the indices of the peak, the trough and the recovery. A series
        that never falls has depth 0 with peak and trough at index 0.

    Example:
        >>> dd = max_drawdown([100, 120, 90, 95, 130, 80, 100])
        >>> round(dd.depth, 4), dd.peak, dd.trough, dd.recovery
        (0.3846, 4, 5, None)
    """
    _need(prices, 1, "a drawdown")
    peak = best_peak = best_trough = 0
    depth = 0.0
    for i, p in enumerate(prices):
        if p > prices[peak]:
            peak = i
        fall = 1.0 - p / prices[peak]
        if fall > depth:
            depth, best_peak, best_trough = fall, peak, i
    recovery = next(
        (i for i in range(best_trough + 1, len(prices)) if prices[i] >= prices[best_peak]),
        None,
    )
    if depth == 0.0:
        recovery = None
    return Drawdown(depth=depth, peak=best_peak, trough=best_trough, recovery=recovery)
