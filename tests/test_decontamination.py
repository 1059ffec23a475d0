"""Decontamination covers upstream τ²-bench's task sets even where their files are absent."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tau2.data_model.tasks import Task

from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.tasks.decontamination import (
    _strip_unknown,
    build_index,
    bundled_digests,
    signature,
    upstream_digests,
)


def _upstream_root() -> Path | None:
    for candidate in (os.environ.get("WRIT_UPSTREAM_TASKS"), Path(__file__).parents[2] / "shared" / "tau2-upstream"):
        if candidate and (Path(candidate) / "airline" / "tasks.json").exists():
            return Path(candidate)
    return None


@pytest.mark.parametrize("name", ["airline", "retail"])
def test_bundled_upstream_digests_match_the_task_files(name: str) -> None:
    root = _upstream_root()
    if root is None:
        pytest.skip("upstream τ²-bench task files are not beside the repository")
    assert bundled_digests(name) == upstream_digests(get_domain(name), root)


def test_an_upstream_only_task_is_caught_without_its_file() -> None:
    root = _upstream_root()
    if root is None:
        pytest.skip("upstream τ²-bench task files are not beside the repository")
    domain = get_domain("airline")
    packaged = build_index(domain).signatures
    caught = 0
    for raw in json.loads((root / "airline" / "tasks.json").read_text()):
        task = Task.model_validate(_strip_unknown(raw))
        writes = [(a.name, a.arguments) for a in task.evaluation_criteria.actions or [] if a.name in domain.write_tools]
        sig = signature(domain, writes)
        if sig is None or sig in packaged:
            continue
        assert f"upstream:{raw['id']}" in build_index(domain).collisions(sig)
        caught += 1
    assert caught >= 1  # the two releases' airline sets differ in some gold writes


def test_a_batch_never_holds_two_tasks_of_one_user_and_write_set() -> None:
    """The synthesizer's duplicate test is the audit's: airline b0013 of the 2K preset (60 tasks) once held
    two tasks with the same user and writes that differed in a refused request; synthesis kept both, the
    decontamination check failed the partition, and the 2K rehearsal lost it."""
    from writ_dagster.core.tasks.audit import decontamination
    from writ_dagster.core.tasks.models import SynthesisConfig
    from writ_dagster.core.tasks.synthesis import Synthesizer

    batch = Synthesizer("airline", SynthesisConfig(tasks_per_batch=60)).synthesize("b0013")
    report = decontamination(get_domain("airline"), batch.tasks, None)
    assert len(batch.tasks) == 60 and report.passed, report.problems
    assert any(r.reason == "duplicate of an earlier task in this batch" for r in batch.rejections)
