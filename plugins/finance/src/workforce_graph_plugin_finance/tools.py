"""The finance worker's LangChain tools: validated inputs in, JSON-friendly dicts out.

Error policy, which the worker runtime relies on:

- invalid arguments fail pydantic validation, and a ``ToolException`` explains any
  other mistake the model can fix by calling again (a wrong column name, a file name
  that is not attached); the runtime returns both to the model as an error message;
- ``SubtaskFailed`` ends the subtask when calling again cannot help: the attached file
  is missing, unreadable or holds unusable prices.
"""

from __future__ import annotations

from langchain_core.tools import BaseTool

from workforce_graph_plugin_finance.price_tools import (
    max_drawdown_tool,
    price_returns_tool,
    price_volatility_tool,
    resolve_attachment,
    sharpe_ratio_tool,
)
from workforce_graph_plugin_finance.tvm_tools import irr_tool, loan_amortisation_tool, npv_tool

__all__ = [
    "FINANCE_TOOLS",
    "irr_tool",
    "loan_amortisation_tool",
    "max_drawdown_tool",
    "npv_tool",
    "price_returns_tool",
    "price_volatility_tool",
    "resolve_attachment",
    "sharpe_ratio_tool",
]

FINANCE_TOOLS: tuple[BaseTool, ...] = (
    npv_tool,
    irr_tool,
    loan_amortisation_tool,
    price_returns_tool,
    price_volatility_tool,
    sharpe_ratio_tool,
    max_drawdown_tool,
)
"""Every tool of the finance worker, in the order the model sees them."""
