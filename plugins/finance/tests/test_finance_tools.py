"""The finance tools as the worker's model calls them: validation, attachments, errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.tools import ToolException
from pydantic import ValidationError
from workforce_graph_plugin_finance.tools import (
    FINANCE_TOOLS,
    irr_tool,
    loan_amortisation_tool,
    max_drawdown_tool,
    npv_tool,
    price_returns_tool,
    price_volatility_tool,
    resolve_attachment,
    sharpe_ratio_tool,
)

from workforce_graph.workers import SubtaskContext, SubtaskFailed, _current_subtask

# Out of date order on purpose: the tools must sort it.
PRICES = (
    "Date,Close\n2024-01-05,100\n2024-01-01,100\n2024-01-02,120\n2024-01-03,90\n2024-01-04,95\n"
)


@contextmanager
def subtask(*attachments: Path) -> Iterator[None]:
    """Run the block as if inside a worker run with these attachments."""
    ctx = SubtaskContext(
        request="analyse",
        subtask_id="s1",
        description="analyse",
        capabilities=["finance"],
        dependency_results={},
        attachments=[str(a) for a in attachments],
    )
    token = _current_subtask.set(ctx)
    try:
        yield
    finally:
        _current_subtask.reset(token)


@pytest.fixture
def prices_csv(tmp_path: Path) -> Path:
    path = tmp_path / "prices.csv"
    path.write_text(PRICES, encoding="utf-8")
    return path


def test_tool_names_are_unique_and_described() -> None:
    names = [t.name for t in FINANCE_TOOLS]
    assert len(names) == len(set(names)) == 7
    for t in FINANCE_TOOLS:
        assert t.description.strip()
        assert all(f.get("description") for f in t.args.values()), t.name


def test_npv_and_irr_tools() -> None:
    assert npv_tool.invoke({"rate": 0.1, "cashflows": [-1000, 300, 400, 500]})["npv"] == (
        pytest.approx(-21.0368, abs=1e-4)
    )
    out = irr_tool.invoke({"cashflows": [-100, 39, 59, 55, 20]})
    assert out["irr"] == pytest.approx(0.2809484, abs=1e-7)
    assert out["irr_percent"] == "28.0948%"
    assert "all_irrs" not in out
    several = irr_tool.invoke({"cashflows": [-100, 230, -132], "guess": 0.3})
    assert several["irr"] == pytest.approx(0.2)
    assert several["all_irrs"] == pytest.approx([0.1, 0.2])


@pytest.mark.parametrize(
    "args",
    [
        {"rate": -1, "cashflows": [1, 2]},
        {"rate": 0.1, "cashflows": []},
        {"rate": 0.1, "cashflows": [1, float("nan")]},
        {"rate": float("inf"), "cashflows": [1]},
        {"cashflows": [1, 2]},
    ],
)
def test_npv_rejects_invalid_arguments(args: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        npv_tool.invoke(args)


def test_irr_without_solution_is_an_error_the_model_can_read() -> None:
    with pytest.raises(ToolException, match="one negative and one positive"):
        irr_tool.invoke({"cashflows": [100, 50]})
    with pytest.raises(ValidationError):
        irr_tool.invoke({"cashflows": [-100]})


def test_loan_tool_summary_and_schedules() -> None:
    args = {"principal": 200_000, "annual_rate": 0.065, "years": 30}
    out = loan_amortisation_tool.invoke(args)
    assert out["payment"] == 1264.14
    assert out["number_of_payments"] == 360
    assert out["total_interest"] == pytest.approx(255_088.98, abs=1.0)
    assert len(out["schedule"]) == 30
    assert sum(y["principal"] for y in out["schedule"]) == pytest.approx(200_000, abs=0.05)
    assert out["schedule"][-1]["balance"] == 0
    full = loan_amortisation_tool.invoke(
        {"principal": 1200, "annual_rate": 0, "years": 1, "schedule": "full"}
    )
    assert [r["payment"] for r in full["schedule"]] == [100.0] * 12
    assert "schedule" not in loan_amortisation_tool.invoke({**args, "schedule": "none"})


def test_loan_tool_catches_percent_for_decimal_and_odd_terms() -> None:
    with pytest.raises(ValidationError, match="annual_rate"):
        loan_amortisation_tool.invoke({"principal": 1000, "annual_rate": 6.5, "years": 1})
    with pytest.raises(ToolException, match="whole number of payments"):
        loan_amortisation_tool.invoke({"principal": 1000, "annual_rate": 0.05, "years": 1.03})
    with pytest.raises(ToolException, match="schedule='yearly'"):
        loan_amortisation_tool.invoke(
            {"principal": 1000, "annual_rate": 0.05, "years": 60, "schedule": "full"}
        )


def test_price_tools_read_an_attachment_by_name(prices_csv: Path) -> None:
    with subtask(prices_csv):
        dd = max_drawdown_tool.invoke({"csv_file": "prices.csv"})
        returns = price_returns_tool.invoke({"csv_file": str(prices_csv)})
        vol = price_volatility_tool.invoke({"periods_per_year": 252})  # the only attachment
        sharpe = sharpe_ratio_tool.invoke({"csv_file": "prices.csv", "risk_free_rate": 0.02})
    assert dd["source"] == {
        "file": "prices.csv",
        "prices": 5,
        "from": "2024-01-01",
        "to": "2024-01-05",
        "date_column": "Date",
        "price_column": "Close",
    }
    assert dd["max_drawdown"] == pytest.approx(0.25)
    assert dd["peak"] == {"date": "2024-01-02", "price": 120.0}
    assert dd["trough"] == {"date": "2024-01-03", "price": 90.0}
    assert dd["recovered_on"] is None
    assert returns["total_return"] == 0
    assert returns["best_period"] == {"date": "2024-01-02", "return": pytest.approx(0.2)}
    assert returns["worst_period"] == {"date": "2024-01-03", "return": pytest.approx(-0.25)}
    assert vol["annualised_volatility"] > 0
    assert vol["period_volatility"] * 252**0.5 == pytest.approx(vol["annualised_volatility"])
    assert isinstance(sharpe["sharpe_ratio"], float)


def test_price_tools_accept_inline_csv_outside_a_run() -> None:
    out = max_drawdown_tool.invoke({"csv_text": PRICES})
    assert out["source"]["file"] == "inline CSV"
    assert out["max_drawdown"] == pytest.approx(0.25)
    with pytest.raises(ToolException, match=r"csv_text: row 2: price 'x' is not a number"):
        max_drawdown_tool.invoke({"csv_text": "date,close\n2024-01-01,x\n"})


def test_only_attached_files_can_be_read(prices_csv: Path, tmp_path: Path) -> None:
    other = tmp_path / "secret.csv"
    other.write_text(PRICES, encoding="utf-8")
    with subtask(prices_csv):
        with pytest.raises(ToolException, match=r"'secret.csv' is not attached.*prices.csv"):
            max_drawdown_tool.invoke({"csv_file": "secret.csv"})
        with pytest.raises(ToolException, match="is not attached"):
            max_drawdown_tool.invoke({"csv_file": str(other)})
    with subtask(), pytest.raises(ToolException, match=r"attachments: none"):
        max_drawdown_tool.invoke({})
    with subtask(prices_csv, other), pytest.raises(ToolException, match="say which file"):
        max_drawdown_tool.invoke({})


def test_both_sources_at_once_is_invalid(prices_csv: Path) -> None:
    with pytest.raises(ValidationError, match="either csv_file or csv_text"):
        max_drawdown_tool.invoke({"csv_file": "prices.csv", "csv_text": PRICES})


def test_missing_or_unusable_attachment_fails_the_subtask(tmp_path: Path) -> None:
    missing = tmp_path / "gone.csv"
    with subtask(missing), pytest.raises(SubtaskFailed, match=r"cannot read gone\.csv") as err:
        max_drawdown_tool.invoke({"csv_file": "gone.csv"})
    assert "gone.csv" in err.value.reason
    bad = tmp_path / "bad.csv"
    bad.write_text("date,close\n2024-01-01,0\n", encoding="utf-8")
    with subtask(bad), pytest.raises(SubtaskFailed, match=r"bad\.csv has no usable prices"):
        max_drawdown_tool.invoke({})


def test_wrong_column_is_an_error_the_model_can_fix(prices_csv: Path) -> None:
    with subtask(prices_csv):
        with pytest.raises(ToolException, match=r"no price column named 'Adj Close'.*'Close'"):
            sharpe_ratio_tool.invoke({"price_column": "Adj Close"})
        assert sharpe_ratio_tool.invoke({"price_column": "close"})["sharpe_ratio"]


def test_too_little_data_is_reported_not_crashed() -> None:
    with pytest.raises(ToolException, match="at least 2 returns"):
        price_volatility_tool.invoke({"csv_text": "date,close\n2024-01-01,1\n2024-01-02,2\n"})
    flat = "date,close\n2024-01-01,1\n2024-01-02,1\n2024-01-03,1\n"
    with pytest.raises(ToolException, match="never vary"):
        sharpe_ratio_tool.invoke({"csv_text": flat})


def test_tool_call_output_is_json_and_context_reaches_async_calls(prices_csv: Path) -> None:
    call = {
        "name": "max_drawdown",
        "args": {"csv_file": "prices.csv"},
        "id": "call-1",
        "type": "tool_call",
    }

    async def run() -> Any:
        with subtask(prices_csv):
            return await max_drawdown_tool.ainvoke(call)

    message = asyncio.run(run())
    assert isinstance(message, ToolMessage)
    assert json.loads(str(message.content))["max_drawdown"] == pytest.approx(0.25)


def test_resolve_attachment_outside_a_run_takes_the_path_as_given() -> None:
    assert resolve_attachment("data/p.csv") == Path("data/p.csv")
    with pytest.raises(ToolException, match="csv_file"):
        resolve_attachment(None)
