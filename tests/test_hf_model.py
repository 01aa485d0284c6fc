"""The ``hf:`` model name: bad directories and options are one-line errors (no model
is loaded here; tests/test_training.py plans with a real one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from workforce_graph.models import ModelConfigError, resolve_model


def test_a_directory_without_a_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelConfigError, match=r"not a Hugging Face model directory") as raised:
        resolve_model(f"hf:{tmp_path}")
    assert "\n" not in str(raised.value)


def test_unknown_or_bad_sampling_options_are_named(tmp_path: Path) -> None:
    with pytest.raises(ModelConfigError, match=r"unknown hf: option 'temp'"):
        resolve_model(f"hf:{tmp_path}?temp=0.7")
    with pytest.raises(ModelConfigError, match=r"temperature='hot' is not valid"):
        resolve_model(f"hf:{tmp_path}?temperature=hot")


def test_the_constrained_option_takes_a_flag(tmp_path: Path) -> None:
    with pytest.raises(ModelConfigError, match=r"constrained='maybe' is not valid"):
        resolve_model(f"hf:{tmp_path}?constrained=maybe")
    # A valid flag gets as far as loading the (missing) model.
    with pytest.raises(ModelConfigError, match=r"not a Hugging Face model directory"):
        resolve_model(f"hf:{tmp_path}?constrained=0")


def test_an_hf_model_is_named_by_its_directory_in_traces() -> None:
    from workforce_graph.models.hf import ChatTransformers

    # The trajectory recorder takes a call's model from ls_model_name: without it an
    # hf: planner's runs recorded no model, and exports could not tell a trained
    # planner's runs from the base model's. Built unvalidated: no model is loaded here.
    model = ChatTransformers.model_construct(model_path="runs/planner-sft")
    params = model._get_ls_params()
    assert (params["ls_provider"], params["ls_model_name"]) == ("transformers", "runs/planner-sft")
