"""Task synthesis: reproducible, measured, policy-shaped, decontaminated, and strict on config."""

from __future__ import annotations

import pydantic
import pytest

from writ_dagster.core.domains.registry import UnknownDomainError, get_domain
from writ_dagster.core.tasks.decontamination import build_index, signature
from writ_dagster.core.tasks.measure import reads_between_writes
from writ_dagster.core.tasks.models import SynthesisConfig
from writ_dagster.core.tasks.synthesis import ImpossibleConfigError, Synthesizer

BATCHES = ["airline_batch", "retail_batch"]


@pytest.mark.parametrize("domain", ["airline", "retail"])
def test_same_batch_same_rows_other_batch_other_rows(domain: str) -> None:
    config = SynthesisConfig(tasks_per_batch=12)
    a = Synthesizer(domain, config).synthesize("b0007")
    b = Synthesizer(domain, config).synthesize("b0007")
    c = Synthesizer(domain, config).synthesize("b0008")
    assert [t.content_hash for t in a.tasks] == [t.content_hash for t in b.tasks]
    assert [r.model_dump() for r in a.rejections] == [r.model_dump() for r in b.rejections]
    assert {t.content_hash for t in a.tasks}.isdisjoint({t.content_hash for t in c.tasks})


@pytest.mark.parametrize("batch", BATCHES)
def test_measurements_match_the_stored_plan(batch: str, request: pytest.FixtureRequest) -> None:
    synth, result = request.getfixturevalue(batch)
    config = synth.config
    kinds = {t.name: t.type.value for t in synth.domain.tools.values()}
    for rec in result.tasks:
        plan = rec.gold_actions
        assert [s.kind for s in plan] == [kinds[s.name] if kinds[s.name] != "generic" else "generic" for s in plan]
        per_write = reads_between_writes([s.kind for s in plan])
        assert per_write == [m.reads for m in rec.axes.per_write]
        # Only a refusal task (a request the policy forbids, and nothing else) and an information task
        # (a question, and nothing else) have no write.
        assert rec.axes.writes == len(per_write) >= (0 if rec.family in ("refusal", "information") else 1)
        actions = rec.task["evaluation_criteria"]["actions"]
        assert [(a["name"], a["arguments"]) for a in actions] == [(s.name, s.arguments) for s in plan]
        if rec.trajectory_type == "read-heavy":
            assert rec.axes.max_reads_before_write >= config.read_heavy_min_reads
            assert all(m.burden == "high" for m in rec.axes.per_write)
        if rec.trajectory_type == "write-intensive":
            assert rec.axes.writes >= config.write_intensive_min_writes
        if rec.trajectory_type == "normal":
            assert all(m.burden == "low" for m in rec.axes.per_write)
        assert f"users:{rec.user_id}" in rec.sources.entities
        assert rec.sources.config_hash == config.content_hash()


@pytest.mark.parametrize("batch", BATCHES)
def test_high_burden_requests_name_no_target_id(batch: str, request: pytest.FixtureRequest) -> None:
    """At high burden the user describes targets: the ids the writes use never appear in the instructions."""
    synth, result = request.getfixturevalue(batch)
    checked = 0
    for rec in result.tasks:
        if rec.trajectory_type != "read-heavy":
            continue
        instr = rec.task["user_scenario"]["instructions"]
        text = " ".join(str(v) for v in instr.values())
        for step in rec.gold_actions:
            if step.kind != "write":
                continue
            for key in ("reservation_id", "order_id"):
                if key in step.arguments:
                    assert step.arguments[key] not in text, rec.task_id
                    checked += 1
    assert checked > 0


@pytest.mark.parametrize("batch", BATCHES)
def test_no_task_collides_with_base_tasks(batch: str, request: pytest.FixtureRequest) -> None:
    synth, result = request.getfixturevalue(batch)
    index = synth.index
    for rec in result.tasks:
        writes = [(s.name, s.arguments) for s in rec.gold_actions if s.kind == "write"]
        assert index.collisions(signature(synth.domain, writes)) == []


def test_index_catches_a_copy_of_a_base_task() -> None:
    domain = get_domain("airline")
    index = build_index(domain)
    task = next(t for t in domain.base_tasks() if any(a.name in domain.write_tools for a in t.evaluation_criteria.actions or []))
    writes = [(a.name, a.arguments) for a in task.evaluation_criteria.actions if a.name in domain.write_tools]
    assert index.collisions(signature(domain, writes))


@pytest.mark.parametrize("kwargs", [
    {"min_writes": 0}, {"max_writes": 0}, {"tasks_per_batch": -3}, {"min_writes": 4, "max_writes": 2},
    {"type_mix": {"chaotic": 1.0}}, {"type_mix": {"normal": 0.0}},
])
def test_impossible_values_are_refused(kwargs: dict) -> None:
    with pytest.raises(pydantic.ValidationError):
        SynthesisConfig(**kwargs)


def test_more_writes_than_the_domain_allows_is_refused() -> None:
    with pytest.raises(ImpossibleConfigError, match="max_writes=50"):
        Synthesizer("airline", SynthesisConfig(max_writes=50))


def test_unknown_domain_is_named() -> None:
    with pytest.raises(UnknownDomainError, match=r"'telecomz'.*registered domains: .*airline.*retail"):
        Synthesizer("telecomz", SynthesisConfig())
