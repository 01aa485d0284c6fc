"""Training the planner: OWL's SFT then DPO, and Flow-GRPO in the flow.

Needs the ``train`` extra (``pip install 'workforce-graph[train]'``). Every trainer
takes ``local`` (the bundled SmolLM2-135M, made trainable once) or a Hugging Face model
directory as its base and saves a plain model directory that ``hf:DIR`` uses as the
planner's model. See ``docs/training.md``.
"""

from __future__ import annotations

from workforce_graph.training.base_model import BaseModelError, resolve_base_model
from workforce_graph.training.flow_grpo import FlowGrpoLoss, train_flow_grpo
from workforce_graph.training.flow_loop import FlowGrpoLoop, IterationReport, run_flow_grpo_loop
from workforce_graph.training.options import (
    TrainingError,
    TrainingStopped,
    TrainOptions,
    TrainResult,
)
from workforce_graph.training.owl_stages import train_dpo, train_sft
from workforce_graph.training.progress import Figures, ProgressLog
from workforce_graph.training.rows import RowFormatError, read_rows

__all__ = [
    "BaseModelError",
    "Figures",
    "FlowGrpoLoop",
    "FlowGrpoLoss",
    "IterationReport",
    "ProgressLog",
    "RowFormatError",
    "TrainOptions",
    "TrainResult",
    "TrainingError",
    "TrainingStopped",
    "read_rows",
    "resolve_base_model",
    "run_flow_grpo_loop",
    "train_dpo",
    "train_flow_grpo",
    "train_sft",
]
