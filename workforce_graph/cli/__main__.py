"""``python -m workforce_graph.cli``: the same as the ``workforce-graph`` command."""

from workforce_graph.cli import main

main()
