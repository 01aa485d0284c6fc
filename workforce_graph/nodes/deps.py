"""What every node needs: the workers, the models and the budgets of the run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel

from workforce_graph.models import ModelSet, Role
from workforce_graph.plugins import WorkerRegistry
from workforce_graph.settings import WorkforceSettings

__all__ = ["NodeDeps"]


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
