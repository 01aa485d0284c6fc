"""Checks before a run starts, so that what no later call can fix shows first.

Attached files must be readable, the model server reachable and serving the named
models (one cheap request per server and model); attached files that no available
worker can read are said at once.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from workforce_graph.attachments import (
    UnreadableAttachment,
    attachment_path,
    unreadable_attachments,
)
from workforce_graph.cli.errors import CliError, check_reachable
from workforce_graph.models.preflight import check_served_models
from workforce_graph.plugins import collect_workers

__all__ = ["check_models", "read_attachments", "warn_unreadable_attachments"]


async def check_models(
    base_url: str | None, models: Mapping[str, Any], *, call_timeout_s: float
) -> None:
    """The server is reachable and serves every model (raises ``CliError`` or
    ``ModelConfigError`` with one line otherwise)."""
    if base_url:
        check_reachable(base_url)
    await check_served_models(list(models.values()), timeout_s=min(10.0, call_timeout_s))


def warn_unreadable_attachments(attachments: Sequence[str]) -> None:
    """A warning on stderr when no available worker can read the attached files."""
    unread = unreadable_attachments(collect_workers(), attachments)
    if unread:
        sys.stderr.write(
            f"warning: {unread}; an answer that depends on them is marked incomplete\n"
        )
        sys.stderr.flush()


def read_attachments(files: Sequence[Path]) -> list[str]:
    """Absolute paths of ``--file`` attachments, each checked to be a readable file.

    Raises:
        CliError: A file is missing, a directory or unreadable.
    """
    paths = []
    for path in files:
        try:
            paths.append(attachment_path(path))
        except UnreadableAttachment as exc:
            raise CliError(f"--file {path}: {exc}") from exc
    return paths
