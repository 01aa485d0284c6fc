"""Honest evaluation: datasets, the official scorer, the runner, reports, scale-out.

Modules: ``datasets`` (GAIA folders, JSONL, Game of 24, reasoning-gym), ``scorer``
(GAIA's rules), ``runner`` (:class:`~workforce_graph.evaluation.runner.Evaluation`),
``unit`` (one run), ``outcome`` (failure kinds), ``metrics``, ``report``, ``judge``,
``leakage``, ``graphs`` and ``ray_executor``. Imported lazily: the web worker reads the
leakage guard without pulling in the rest. See docs/evaluation.md.
"""

__all__: list[str] = []
