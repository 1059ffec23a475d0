"""Audits of stored trajectories: rewards re-scored two ways, and the success rate.

The pure halves of the ``trajectories`` asset checks: the fast verifier re-scores every
stored conversation; tau2's own ``evaluate_simulation`` (fresh environments, full DB
hashes) re-scores a small deterministic sample, so the fast path is checked against the
reference on real rows every run.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from writ_dagster.core import tau2_adapter as tau2
from writ_dagster.core.audit_report import AuditReport
from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.domains.verify import get_verifier, simulation_run
from writ_dagster.core.simulation.records import TrajectoryRecord, tau2_termination
from writ_dagster.core.tau2_adapter import Task

SCRIPTED_MIN_SUCCESS = 0.95  # the scripted oracle and user should almost always succeed
MODEL_SUCCESS_FLOOR = 0.1  # a model agent or user below this is broken or misconfigured, not merely weak


def _fast_reward(task: Task, record: TrajectoryRecord) -> float:
    try:
        return get_verifier(get_domain(record.domain)).score(
            task, record.tau2_messages(), tau2_termination(record.termination_reason)
        )
    except Exception:  # as when the record was made: a trajectory that cannot be replayed scores 0
        return 0.0


def tau2_reward(task: Task, record: TrajectoryRecord) -> float:
    """The reward tau2's ``evaluate_simulation`` (type ALL) gives a stored trajectory."""
    run = simulation_run(
        task,
        record.tau2_messages(),
        run_id=record.trajectory_id,
        termination=tau2_termination(record.termination_reason),
    )
    # tau2's evaluator imports litellm: reached through the adapter here, when a check runs, not on import
    return tau2.evaluate_simulation(run, task, tau2.EvaluationType.ALL, False, record.domain).reward


def _task(tasks: Mapping[str, dict], record: TrajectoryRecord, problems: list[str]) -> Task | None:
    raw = tasks.get(record.task_id)
    if raw is None:
        problems.append(f"{record.trajectory_id}: its task {record.task_id} is not stored")
        return None
    return Task.model_validate(raw)


def rescore(tasks: Mapping[str, dict], records: Sequence[TrajectoryRecord]) -> AuditReport:
    """Every record re-scores with the fast verifier to its stored reward (``tasks``: id -> tau2 task dict)."""
    problems: list[str] = []
    for record in records:
        task = _task(tasks, record, problems)
        if task is None:
            continue
        reward = _fast_reward(task, record)
        if reward != record.reward:
            problems.append(f"{record.trajectory_id}: stored reward {record.reward}, re-scored {reward}")
    return AuditReport(passed=not problems, problems=problems, figures={"rescored": len(records)})


def sample(records: Sequence[TrajectoryRecord], n: int, seed: int = 0) -> list[TrajectoryRecord]:
    """A deterministic sample of ``n`` records, failures first (they are the interesting ones)."""
    ordered = sorted(records, key=lambda r: r.trajectory_id)
    failed = [r for r in ordered if r.reward < 1.0]
    rest = [r for r in ordered if r.reward >= 1.0]
    rng = random.Random(seed)
    picked = rng.sample(failed, min(len(failed), max(1, n // 2))) if failed else []
    return picked + rng.sample(rest, min(len(rest), n - len(picked)))


def tau2_sample(
    tasks: Mapping[str, dict], records: Sequence[TrajectoryRecord], n: int = 5, seed: int = 0
) -> AuditReport:
    """A sample of ``n`` records re-scored by tau2's own evaluator reproduces the stored rewards."""
    problems: list[str] = []
    chosen = sample(records, n, seed)
    for record in chosen:
        task = _task(tasks, record, problems)
        if task is None:
            continue
        try:
            reward = tau2_reward(task, record)
        except Exception as exc:
            problems.append(f"{record.trajectory_id}: tau2 could not score it ({type(exc).__name__}: {exc})"[:300])
            continue
        if reward != record.reward:
            problems.append(f"{record.trajectory_id}: stored reward {record.reward}, tau2 gives {reward}")
    return AuditReport(passed=not problems, problems=problems, figures={"sampled": [r.trajectory_id for r in chosen]})


def success_report(
    rate: float,
    n: int,
    scripted: bool,
    threshold: float = SCRIPTED_MIN_SUCCESS,
    model_floor: float = MODEL_SUCCESS_FLOOR,
) -> AuditReport:
    """Scripted backends should succeed at least ``threshold`` of the time, model backends at least
    ``model_floor`` (a configured floor: a teacher worth distilling clears it, a broken endpoint does not)."""
    floor = threshold if scripted else model_floor
    kind = "scripted" if scripted else "model-played"
    figures = {"success_rate": rate, "trajectories": n, "scripted_backends": scripted, "threshold": floor}
    passed = n > 0 and rate >= floor
    problems = [] if passed else [f"success rate {rate:.1%} of {n} {kind} trajectories is below {floor:.0%}"]
    return AuditReport(passed=passed, problems=problems, figures=figures)
