"""Honest evaluation: datasets, the official scorer, the runner, reports, scale-out.

Modules: ``datasets`` (GAIA folders, JSONL, Game of 24, reasoning-gym), ``scorer``
(GAIA's rules), ``runner`` (:class:`~workforce_graph.evaluation.runner.Evaluation`),
``unit`` (one run), ``outcome`` (failure kinds), ``metrics``, ``report``, ``judge``,
``leakage`` (installed as the runs' result filter), ``graphs``, ``ray_executor`` and
``errors``. Nothing here is imported by the graphs or their workers. See
docs/evaluation.md.
"""

__all__: list[str] = []
