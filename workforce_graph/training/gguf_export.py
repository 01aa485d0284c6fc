"""A trained planner back to GGUF, for the local runtime and its constrained decoding.

A planner trained from ``--base local`` has the bundled GGUF's architecture and
tokenizer; only its weights changed. The export therefore copies everything but the
weights from a template GGUF (the bundled model by default): the hyperparameters, the
tokenizer and the chat template, so llama.cpp tokenises and formats prompts exactly as
for the model it was trained from. The weights are written unquantised (float16, or
float32), named as llama.cpp names them, with the query and key projections permuted to
llama.cpp's rotary layout (what llama.cpp's ``convert_hf_to_gguf.py`` does for Llama
models; transformers undoes it when it loads a GGUF). ``gguf:FILE`` then runs the
planner with the grammar-constrained decoding of the local runtime.

A model of another architecture or size needs llama.cpp's own converter.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from workforce_graph.training.base_model import TRAIN_HINT, BaseModelError

__all__ = ["GgufExportError", "export_gguf"]

_CONFIG_TO_TEMPLATE = {
    "num_hidden_layers": "llama.block_count",
    "hidden_size": "llama.embedding_length",
    "intermediate_size": "llama.feed_forward_length",
    "num_attention_heads": "llama.attention.head_count",
    "num_key_value_heads": "llama.attention.head_count_kv",
    "vocab_size": "llama.vocab_size",
}
_FILE_TYPE = {"f32": 0, "f16": 1}
"""``general.file_type``: llama.cpp's LLAMA_FTYPE_ALL_F32 and LLAMA_FTYPE_MOSTLY_F16."""


class GgufExportError(BaseModelError):
    """A model that cannot be exported against the template; the message says why."""


def _permute(weights: Any, heads: int) -> Any:
    # Hugging Face keeps each head's rotary halves apart, llama.cpp interleaves them.
    return (
        weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _template_fields(reader: Any) -> dict[str, Any]:
    return {name: field.contents() for name, field in reader.fields.items() if field.types}


def _check_fits(config: dict[str, Any], fields: dict[str, Any], template: Path) -> None:
    if config.get("model_type") != "llama" or fields.get("general.architecture") != "llama":
        raise GgufExportError(
            f"only Llama-architecture models export against a template (this model is "
            f"{config.get('model_type')!r}); use llama.cpp's convert_hf_to_gguf.py"
        )
    for key, field in _CONFIG_TO_TEMPLATE.items():
        wanted = config.get(key, config.get("num_attention_heads") if "kv" in field else None)
        if wanted != fields.get(field):
            raise GgufExportError(
                f"the model's {key} is {wanted} but the template {template.name} has "
                f"{fields.get(field)}: export a model trained from that template's model "
                "(--base local for the bundled one), or pass --template"
            )


def _check_writable(out: Path) -> None:
    """Fail on ``--out`` before the model is read, not after the export's work."""
    if out.is_dir():
        raise GgufExportError(f"--out {out} is a directory; pass the .gguf file to write")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = "a file is in the way" if isinstance(exc, FileExistsError) else exc.strerror
        raise GgufExportError(f"cannot create the folder of --out {out}: {reason}") from exc
    if not os.access(out.parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise GgufExportError(f"--out {out} is not writable")


def export_gguf(
    model_dir: str | Path,
    out: str | Path,
    *,
    template: str | Path | None = None,
    dtype: Literal["f16", "f32"] = "f16",
) -> Path:
    """Write the model in ``model_dir`` as a GGUF file that the local runtime loads.

    Args:
        model_dir: A Llama-architecture Hugging Face model directory (what ``train``
            saves).
        out: The GGUF file to write.
        template: The GGUF whose tokenizer and settings to copy (default: the bundled
            model, from which ``--base local`` models come).
        dtype: Weight type of the matrices; norms stay float32.

    Returns:
        ``out``.

    Raises:
        GgufExportError: The model does not match the template, a tensor is missing, or
            ``out`` cannot be written.
        BaseModelError: The training packages or the bundled model are not installed.
    """
    try:
        import gguf
        import numpy as np
        from safetensors import safe_open
    except ImportError as exc:
        raise BaseModelError(f"exporting needs the training packages: {TRAIN_HINT}") from exc
    if dtype not in _FILE_TYPE:
        raise GgufExportError(f"dtype must be f16 or f32, not {dtype!r}")
    model_dir, out = Path(model_dir), Path(out)
    _check_writable(out)
    if template is None:
        from workforce_graph.models.local import bundled_model_path

        template = bundled_model_path()
    template = Path(template)
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        raise GgufExportError(f"{model_dir} is not a model directory (no config.json)")
    config = json.loads(config_path.read_text())
    reader = gguf.GGUFReader(str(template))
    fields = _template_fields(reader)
    _check_fits(config, fields, template)

    weights: dict[str, Any] = {}
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise GgufExportError(f"{model_dir} holds no .safetensors weights")
    for file in files:
        # "pt", not "np": numpy has no bfloat16, in which GPU runs save.
        with safe_open(str(file), framework="pt") as handle:
            for name in handle.keys():  # noqa: SIM118 - safe_open is not a mapping
                weights[name] = handle.get_tensor(name).float().numpy()
    blocks = int(config["num_hidden_layers"])
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, blocks)
    by_gguf_name: dict[str, tuple[str, Any]] = {}
    for name, tensor in weights.items():
        mapped = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if mapped is not None:
            by_gguf_name[mapped] = (name, tensor)
    if "output.weight" not in by_gguf_name and config.get("tie_word_embeddings"):
        by_gguf_name["output.weight"] = by_gguf_name["token_embd.weight"]

    # Written beside ``out`` and renamed, so an interrupted export leaves no half file.
    partial = out.with_name(f".{out.name}.partial")
    writer = gguf.GGUFWriter(str(partial), "llama")
    try:
        for key, value in fields.items():
            if key.startswith("GGUF.") or key in ("general.architecture", "general.file_type"):
                continue
            field = reader.fields[key]
            sub_type = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(key, value, field.types[0], sub_type=sub_type)
        writer.add_file_type(_FILE_TYPE[dtype])
        heads = int(config["num_attention_heads"])
        kv_heads = int(config.get("num_key_value_heads") or heads)
        for tensor in reader.tensors:
            if tensor.name not in by_gguf_name:
                raise GgufExportError(f"the model has no weights for {tensor.name}")
            hf_name, data = by_gguf_name[tensor.name]
            data = np.asarray(data, dtype=np.float32)
            if hf_name.endswith("q_proj.weight"):
                data = _permute(data, heads)
            elif hf_name.endswith("k_proj.weight"):
                data = _permute(data, kv_heads)
            if data.ndim > 1 and dtype == "f16":
                data = data.astype(np.float16)
            writer.add_tensor(tensor.name, np.ascontiguousarray(data))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out
