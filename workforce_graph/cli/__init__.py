"""The ``workforce-graph`` command line: run tasks with live progress, list and resume runs.

See ``docs/cli.md``. ``main`` is the console-script entry point.
"""

from workforce_graph.cli.app import app, main

__all__ = ["app", "main"]
