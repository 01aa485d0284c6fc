"""reasoning-gym's procedural tasks, scored by their own verifiers.

``reasoning-gym:TASK`` (or ``TASK1,TASK2``) makes ``size`` tasks of each with a fixed
seed, so two evaluations see the same questions.
"""

from __future__ import annotations

from typing import Any

from workforce_graph.evaluation.datasets.base import DatasetError, EvalDataset, EvalTask

__all__ = ["load_reasoning_gym"]

ANSWER_FORMAT = (
    "Finish with the template FINAL ANSWER: [YOUR FINAL ANSWER], the answer alone in the "
    "form the question asks for."
)


def load_reasoning_gym(names: str, *, size: int = 50, seed: int = 0) -> EvalDataset:
    try:
        import reasoning_gym
    except ImportError as exc:
        raise DatasetError(
            "reasoning-gym tasks need reasoning-gym: pip install 'workforce-graph[eval]'"
        ) from exc
    generators: dict[str, Any] = {}
    tasks = []
    for name in [n.strip() for n in names.split(",") if n.strip()]:
        try:
            generator = reasoning_gym.create_dataset(name, size=size, seed=seed)
        except (KeyError, ValueError) as exc:
            raise DatasetError(f"reasoning-gym has no task {name!r} ({exc})") from exc
        generators[name] = generator
        for index, entry in enumerate(generator):
            tasks.append(
                EvalTask(
                    task_id=f"{name}-{index:04d}",
                    question=str(entry["question"]),
                    answer=str(entry["answer"]),
                    family=name,
                    data={"index": index},
                )
            )
    if not tasks:
        raise DatasetError("name a reasoning-gym task, e.g. reasoning-gym:basic_arithmetic")

    def score(task: EvalTask, extracted: str) -> float:
        generator = generators[task.family]
        entry = generator[task.data["index"]]
        return float(generator.score_answer(answer=extracted, entry=entry))

    return EvalDataset(
        name=f"reasoning-gym:{names}", tasks=tasks, answer_format=ANSWER_FORMAT, scorer=score
    )
