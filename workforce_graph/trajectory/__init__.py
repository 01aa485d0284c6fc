"""Trajectories: the recorder, the versioned JSONL format, and tool replay."""

from workforce_graph.trajectory.format import (
    FORMAT,
    FORMAT_VERSION,
    ModelCall,
    Outcome,
    ToolCall,
    Trajectory,
    TrajectoryFormatError,
    append_trajectory,
    read_trajectories,
)
from workforce_graph.trajectory.recorder import (
    TRAJECTORY_FILE,
    TrajectoryRecorder,
    group_id_of,
    with_recording,
)
from workforce_graph.trajectory.replay import ToolReplay, replay_workers

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "TRAJECTORY_FILE",
    "ModelCall",
    "Outcome",
    "ToolCall",
    "ToolReplay",
    "Trajectory",
    "TrajectoryFormatError",
    "TrajectoryRecorder",
    "append_trajectory",
    "group_id_of",
    "read_trajectories",
    "replay_workers",
    "with_recording",
]
