"""Finance worker for workforce-graph: time value of money and price-series analytics.

The maths lives in :mod:`~workforce_graph_plugin_finance.tvm` and
:mod:`~workforce_graph_plugin_finance.prices` (usable on their own), the LangChain tools
in :mod:`~workforce_graph_plugin_finance.tools`, and the worker's declaration in
:mod:`~workforce_graph_plugin_finance.plugin`, which the ``workforce_graph`` entry point
names.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
