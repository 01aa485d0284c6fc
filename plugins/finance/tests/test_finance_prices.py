"""Price CSV parsing and the return, volatility, Sharpe and drawdown maths."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from workforce_graph_plugin_finance import prices as px


def test_parse_sorts_by_date_and_detects_columns_case_insensitively() -> None:
    text = "Date,Open,Close\n2024-01-03,1,102\n2024-01-01,1,100\n2024-01-02,1,101\n"
    series = px.parse_prices(text)
    assert series.prices == (100.0, 101.0, 102.0)
    assert [series.label(i) for i in range(3)] == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert (series.date_column, series.price_column) == ("Date", "Close")


def test_parse_prefers_adjusted_close_and_accepts_named_columns() -> None:
    text = (
        "Date,Close,Adj Close,When,Px\n"
        "2024-01-01,10,9,2023-12-31,5\n"
        "2024-01-02,11,10,2024-01-01,6\n"
    )
    assert px.parse_prices(text).prices == (9.0, 10.0)
    named = px.parse_prices(text, date_column="when", price_column="PX")
    assert named.prices == (5.0, 6.0)
    assert named.label(0) == "2023-12-31"


def test_parse_handles_bom_semicolons_decimal_commas_and_date_formats() -> None:
    text = "\ufeffdate;price\n02/01/2024;1.234,5\n01/01/2024;1.200,25\n"
    series = px.parse_prices(text, date_format="%d/%m/%Y")
    assert series.prices == (1200.25, 1234.5)
    assert series.label(1) == "2024-01-02"
    # Comma files: a comma in a quoted price separates thousands.
    assert px.parse_prices('date,close\n2024-01-01,"1,234.5"\n').prices == (1234.5,)
    # Semicolon files with decimal points still read correctly.
    assert px.parse_prices("date;close\n2024-01-01;100.5\n").prices == (100.5,)


def test_timestamps_keep_their_time() -> None:
    series = px.parse_prices("timestamp,close\n2024-01-01T09:30:00,1\n2024-01-01T09:31:00,2\n")
    assert series.label(1) == "2024-01-01T09:31:00"


def test_missing_column_lists_the_columns_there_are() -> None:
    with pytest.raises(px.ColumnNotFound, match=r"no price column.*'Date', 'Volume'") as err:
        px.parse_prices("Date,Volume\n2024-01-01,5\n")
    assert err.value.argument_error
    with pytest.raises(px.ColumnNotFound, match="no date column named 'day'"):
        px.parse_prices("Date,Close\n2024-01-01,5\n", date_column="day")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("  \n\n", "empty"),
        ("date,close\n", "no price rows"),
        ("date,close\n2024-01-01,abc\n", r"row 2: price 'abc' is not a number"),
        ("date,close\n2024-01-01,0\n", "row 2: price '0' must be a positive number"),
        ("date,close\n2024-01-01,-3\n", "must be a positive"),
        ("date,close\n2024-01-01,nan\n", "must be a positive"),
        ("date,close\n2024-01-01,\n", "is not a number"),
        ("date,close\n2024-01-01,1\n\n2024-01-01,2\n", "row 4: date '2024-01-01' appears twice"),
        ("date,close\n2024-01-01\n", "fewer than the header"),
    ],
)
def test_bad_data_gives_a_clear_error(text: str, match: str) -> None:
    with pytest.raises(px.PriceDataError, match=match) as err:
        px.parse_prices(text)
    assert not err.value.argument_error


def test_bad_dates_suggest_a_format() -> None:
    with pytest.raises(px.DateFormatError, match="pass a date_format") as err:
        px.parse_prices("date,close\n31/01/2024,1\n")
    assert err.value.argument_error
    with pytest.raises(px.DateFormatError, match="does not match the date format"):
        px.parse_prices("date,close\n2024-01-31,1\n", date_format="%d/%m/%Y")


def test_load_prices_reads_files_and_rejects_binary(tmp_path: Path) -> None:
    good = tmp_path / "p.csv"
    good.write_text("Date,Close\n2024-01-02,2\n2024-01-01,1\n", encoding="utf-8")
    assert px.load_prices(good).prices == (1.0, 2.0)
    binary = tmp_path / "p.xlsx"
    binary.write_bytes(b"PK\x03\x04\xff\xfe\x00")
    with pytest.raises(px.PriceDataError, match="not UTF-8"):
        px.load_prices(binary)
    with pytest.raises(FileNotFoundError):
        px.load_prices(tmp_path / "absent.csv")


def test_returns() -> None:
    assert px.simple_returns([100, 110, 99]) == pytest.approx([0.1, -0.1])
    logs = px.log_returns([100, 110, 99])
    assert logs == pytest.approx([math.log(1.1), math.log(0.9)])
    assert math.fsum(logs) == pytest.approx(math.log(99 / 100))
    with pytest.raises(px.PriceDataError, match="at least 2 prices"):
        px.simple_returns([100])


def test_annualised_return() -> None:
    # 13 monthly prices spanning one year, doubling: CAGR is 100 %.
    monthly = [100 * 2 ** (i / 12) for i in range(13)]
    assert px.annualised_return(monthly, periods_per_year=12) == pytest.approx(1.0)


def test_annualised_volatility_of_alternating_returns() -> None:
    returns = [0.01, -0.01, 0.01, -0.01]
    # Sample variance: 4 * 0.0001 / 3.
    expected = math.sqrt(0.0004 / 3) * math.sqrt(252)
    assert px.annualised_volatility(returns) == pytest.approx(expected)
    assert px.annualised_volatility(returns, 12) == pytest.approx(math.sqrt(0.0004 / 3 * 12))
    with pytest.raises(px.PriceDataError, match="at least 2 returns"):
        px.annualised_volatility([0.01])


def test_sharpe_ratio_on_constructed_returns() -> None:
    assert px.sharpe_ratio([0.01, 0.03], 0.0, periods_per_year=1) == pytest.approx(math.sqrt(2))
    # Excess returns [0, 0.02]: mean 0.01 over stdev 0.02 / sqrt(2).
    assert px.sharpe_ratio([0.01, 0.03], 0.01, periods_per_year=1) == pytest.approx(
        1 / math.sqrt(2)
    )
    # The annual risk-free rate compounds down to the period rate.
    monthly_rf = 1.12 ** (1 / 12) - 1
    returns = [0.02, 0.0, 0.03, -0.01]
    excess = [r - monthly_rf for r in returns]
    mean = sum(excess) / 4
    sd = math.sqrt(sum((e - mean) ** 2 for e in excess) / 3)
    assert px.sharpe_ratio(returns, 0.12, 12) == pytest.approx(mean / sd * math.sqrt(12))


def test_sharpe_ratio_is_undefined_for_constant_returns() -> None:
    with pytest.raises(px.PriceDataError, match="never vary"):
        px.sharpe_ratio([0.01, 0.01, 0.01])


def test_max_drawdown_on_a_hand_made_series() -> None:
    series = [100, 120, 90, 95, 130, 80, 100]
    dd = px.max_drawdown(series)
    assert dd.depth == pytest.approx(1 - 80 / 130)
    assert (dd.peak, dd.trough, dd.recovery) == (4, 5, None)
    # The first fall (120 -> 90) is smaller and recovered at index 4 (130).
    early = px.max_drawdown(series[:5])
    assert early.depth == pytest.approx(0.25)
    assert (early.peak, early.trough, early.recovery) == (1, 2, 4)


def test_max_drawdown_of_a_rising_series_is_zero() -> None:
    dd = px.max_drawdown([1, 2, 3])
    assert (dd.depth, dd.peak, dd.trough, dd.recovery) == (0.0, 0, 0, None)
