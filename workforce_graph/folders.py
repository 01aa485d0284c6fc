"""The folder a command writes into, made (or refused in one line) before any work."""

from __future__ import annotations

from pathlib import Path

__all__ = ["FolderError", "output_folder"]


class FolderError(ValueError):
    """``--out`` cannot be the folder asked for; the message says why, in one line."""


def output_folder(path: str | Path, *, holds: str) -> Path:
    """Create the folder ``path`` if needed, so a bad ``--out`` costs no work.

    Args:
        path: The folder.
        holds: What it is for, for the message ("the model", "the evaluation").

    Raises:
        FolderError: ``path`` is a file, or the folder cannot be created.
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise FolderError(f"--out {folder} is a file; pass a folder for {holds}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FolderError(f"cannot create --out {folder}: {exc.strerror or exc}") from exc
    return folder
