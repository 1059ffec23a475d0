"""The pure halves of the asset checks pass on good tasks and fail on bad ones."""

from __future__ import annotations

import pytest
from writ_testing import SMALL, small_airline_batches

from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.tasks.audit import coverage, decontamination, reverify
from writ_dagster.core.tasks.models import BatchResult, PlanStep, SynthesisConfig, TaskRecord


@pytest.fixture
def small_airline() -> dict[str, BatchResult]:
    return small_airline_batches()


def test_reverify_passes_stored_tasks_and_catches_a_broken_plan(small_airline: dict[str, BatchResult]) -> None:
    domain = get_domain("airline")
    good = small_airline["b0000"].tasks
    assert reverify(domain, good).passed
    victim = good[0]
    steps = [s.model_copy(update={"arguments": {**s.arguments, "reservation_id": "NOSUCH"}})
             if s.kind == "write" and "reservation_id" in s.arguments else s for s in victim.gold_actions]
    if steps == victim.gold_actions:  # no reservation write: break the first write's tool name instead
        i = next(i for i, s in enumerate(steps) if s.kind == "write")
        steps[i] = steps[i].model_copy(update={"arguments": {}})
    broken = victim.model_copy(update={"gold_actions": steps})
    report = reverify(domain, [broken, *good[1:]])
    assert not report.passed
    assert report.figures["tasks_failing"] == 1
    assert any("errors" in p and victim.task_id in p for p in report.problems)


def test_decontamination_flags_a_copy_of_a_base_task(small_airline: dict[str, BatchResult]) -> None:
    domain = get_domain("airline")
    good = small_airline["b0000"].tasks
    assert decontamination(domain, good, None).passed
    base = next(t for t in domain.base_tasks()
                if any(a.name in domain.write_tools for a in t.evaluation_criteria.actions or []))
    copied_steps = [PlanStep(name=a.name, arguments=a.arguments,
                             kind="write" if a.name in domain.write_tools else "read")
                    for a in base.evaluation_criteria.actions]
    copy = good[0].model_copy(update={"gold_actions": copied_steps})
    report = decontamination(domain, [copy], None)
    assert not report.passed
    assert f"tau2:{base.id}" in report.problems[0]
    twice = decontamination(domain, [good[1], good[1].model_copy(update={"task_id": "dup"})], None)
    assert not twice.passed and "in this partition" in twice.problems[0]


def test_coverage_reports_both_axes(small_airline: dict[str, BatchResult]) -> None:
    tasks: list[TaskRecord] = small_airline["b0000"].tasks + small_airline["b0001"].tasks
    report = coverage(tasks, SMALL)
    assert report.figures["tasks"] == 16
    assert set(report.figures["shares"]) == {"write-intensive", "read-heavy"}
    single = [t for t in tasks if t.axes.writes == 1 and t.axes.max_reads_before_write < 6]
    assert single, "a small batch should hold a plain one-write task"
    assert not coverage(single, SMALL).passed
    assert not coverage([], SMALL).passed
    narrow = SynthesisConfig(tasks_per_batch=8, max_writes=1, write_intensive_min_writes=1,
                             type_mix={"normal": 1.0})
    assert not coverage([t for t in tasks if t.axes.writes > 1], narrow).passed  # writes out of range
