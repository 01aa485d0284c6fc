"""Transformers models loaded in this process for ``hf:`` chat models: one per
(directory, device), shared by every chat model that names it, each with the lock that
serialises its generation, until :func:`release_models` forgets them."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["INSTALL_HINT", "HfModelError", "LoadedModel", "load_model", "release_models"]

INSTALL_HINT = "pip install 'workforce-graph[train]'"


class HfModelError(RuntimeError):
    """The model directory cannot be loaded; the message says what to do."""


@dataclass
class LoadedModel:
    # transformers' own annotations are too loose for strict mypy: kept as Any.
    model: Any
    tokenizer: Any
    device: str
    lock: threading.Lock
    ll_tokenizer: Any = field(default=None)
    """llguidance's tokenizer, made on the first constrained call (it takes about 1 s)."""


_MODELS: dict[tuple[str, str], LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


def load_model(path: str, device: str) -> LoadedModel:
    """The model at ``path`` on ``device`` (``auto``: ``cuda`` when torch sees one),
    loaded once and shared.

    Raises:
        HfModelError: Not a model directory, transformers missing, or unloadable.
    """
    directory = Path(path).expanduser()
    if not (directory / "config.json").is_file():
        raise HfModelError(
            f"hf:{path} is not a Hugging Face model directory (no config.json); "
            "pass a directory written by `workforce-graph train` or save_pretrained"
        )
    with _MODELS_LOCK:
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise HfModelError(f"hf: models need transformers and torch: {INSTALL_HINT}") from exc
        resolved = device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        key = (str(directory.resolve()), resolved)
        if key in _MODELS:
            return _MODELS[key]
        dtype = torch.bfloat16 if resolved == "cuda" else torch.float32
        try:
            tokenizer: Any = AutoTokenizer.from_pretrained(key[0])
            model: Any = AutoModelForCausalLM.from_pretrained(key[0], dtype=dtype)
            model = model.to(resolved)
        except (OSError, ValueError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise HfModelError(f"cannot load hf:{path}: {first}") from exc
        model.eval()
        _MODELS[key] = LoadedModel(model, tokenizer, resolved, threading.Lock())
        return _MODELS[key]


def release_models() -> int:
    """Forget every loaded model and free its memory (a GPU's too); how many there were.

    A chat model built earlier keeps its own reference until it is dropped itself. The
    on-policy loop loads a new planner every iteration; without this each stays loaded.
    """
    import gc

    with _MODELS_LOCK:
        count = len(_MODELS)
        _MODELS.clear()
    gc.collect()
    try:
        import torch
    except ImportError:
        return count
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return count
