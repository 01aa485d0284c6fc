"""The generated curriculum: seeded, split without overlap, scored on the value, and the
leakage guard over training rows."""

from __future__ import annotations

import pytest

from workforce_graph.evaluation.datasets import DatasetError, load_curriculum, load_dataset
from workforce_graph.evaluation.datasets.curriculum import (
    CURRICULUM_FAMILIES,
    NEEDED_CAPABILITIES,
    score_curriculum,
)
from workforce_graph.evaluation.leakage import leaked_questions


def test_the_same_seed_gives_the_same_questions_and_another_seed_others() -> None:
    first = load_curriculum(4, seed=11)
    again = load_curriculum(4, seed=11)
    other = load_curriculum(4, seed=22)
    assert [t.question for t in first.tasks] == [t.question for t in again.tasks]
    assert [t.question for t in first.tasks] != [t.question for t in other.tasks]
    assert {t.family for t in first.tasks} == set(CURRICULUM_FAMILIES)
    assert len(first.tasks) == 4 * len(CURRICULUM_FAMILIES)


def test_a_held_out_split_shares_no_question_with_the_training_split() -> None:
    train = load_curriculum(6, seed=11)
    # The fact family draws from a small pool, so two seeds collide without the exclusion.
    held_out = load_curriculum(12, seed=22, exclude={t.question for t in train.tasks})
    assert not {t.question for t in train.tasks} & {t.question for t in held_out.tasks}
    assert len({t.question for t in held_out.tasks}) == len(held_out.tasks)


def test_a_family_that_runs_out_of_questions_is_a_dataset_error() -> None:
    with pytest.raises(DatasetError, match="too few distinct fact questions"):
        load_curriculum(50, seed=1, families=["fact"])
    with pytest.raises(DatasetError, match="unknown curriculum families"):
        load_curriculum(1, seed=1, families=["poetry"])


def test_every_task_declares_the_capability_its_right_worker_has() -> None:
    for task in load_curriculum(2, seed=3).tasks:
        assert task.data["expected_capabilities"] == list(NEEDED_CAPABILITIES[task.family])
    # No single worker is right for every family: code, reasoning and finance are needed.
    needed = {caps[0] for caps in NEEDED_CAPABILITIES.values()}
    assert {"python", "general_knowledge", "finance"} <= needed


def test_answers_are_scored_on_their_value_not_their_format() -> None:
    tasks = {t.family: t for t in load_curriculum(1, seed=5).tasks}
    product = tasks["arithmetic"]
    assert score_curriculum(product, f"The product is {int(product.answer):,}.") == 1.0
    assert score_curriculum(product, f"The product is {int(product.answer) + 1}.") == 0.0
    npv = tasks["tvm"]
    close = float(npv.answer) * 1.005
    assert score_curriculum(npv, f"NPV = {close:.2f}") == 1.0
    assert score_curriculum(npv, f"NPV = {float(npv.answer) * 1.2 + 5:.2f}") == 0.0
    fact = tasks["fact"]
    assert score_curriculum(fact, f"It is {fact.answer}.") == 1.0
    assert score_curriculum(fact, "I do not know.") == 0.0


def test_the_cli_names_the_curriculum_by_its_seed() -> None:
    dataset = load_dataset("curriculum:7", size=2)
    assert dataset.name == "curriculum-7"
    assert [t.question for t in dataset.tasks] == [
        t.question for t in load_curriculum(2, seed=7).tasks
    ]
    with pytest.raises(DatasetError, match="whole number"):
        load_dataset("curriculum:seven")


def test_the_leakage_guard_finds_a_held_out_question_in_a_training_row() -> None:
    held_out = ["What is 123 * 45?", "What is the capital of Peru?"]
    clean = [{"prompt": [{"role": "user", "content": "Request:\nWhat is 12 * 4?"}]}]
    leaking = [
        *clean,
        {
            "prompt": [{"role": "user", "content": "Request:\nWhat  is the CAPITAL of Peru?"}],
            "completion": [{"role": "assistant", "content": "{}"}],
        },
    ]
    assert leaked_questions(clean, held_out) == []
    assert leaked_questions(leaking, held_out) == ["What is the capital of Peru?"]
