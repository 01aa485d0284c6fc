"""What every node needs: the workers, the models and the budgets of the run."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel

from workforce_graph.models import ModelSet, Role
from workforce_graph.plugins import WorkerRegistry
from workforce_graph.settings import WorkforceSettings

__all__ = ["NodeDeps", "spent_s"]


@dataclass(frozen=True)
class NodeDeps:
    registry: WorkerRegistry
    models: ModelSet
    settings: WorkforceSettings

    def settings_for(self, context: Any) -> WorkforceSettings:
        return self.settings.overridden(context)

    def model_for(self, role: Role, context: Any) -> BaseChatModel:
        """The role's model, honouring a run's ``<role>_model`` / ``model`` override."""
        name = getattr(context, f"{role}_model", None) or getattr(context, "model", None)
        return self.models.get(name) if name else self.models.for_role(role)


def spent_s(state: Mapping[str, Any], started: float) -> float:
    """The run's seconds so far: what its earlier nodes spent (``elapsed_s`` in state,
    so a resumed run goes on from there) and this node's since ``started``
    (``time.perf_counter()``). Time between nodes, such as a paused plan review or a
    killed process, is not counted."""
    return float(state.get("elapsed_s") or 0.0) + time.perf_counter() - started
