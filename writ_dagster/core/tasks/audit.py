"""Audits of stored tasks: re-verification, axis coverage, decontamination.

These are the pure halves of the Dagster asset checks; each returns a small report that
says whether it passed and why, so a notebook or another orchestrator can run them too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from writ_dagster.core.audit_report import AuditReport
from writ_dagster.core.domains.registry import Domain
from writ_dagster.core.domains.verify import Verifier, gold_messages
from writ_dagster.core.tasks.decontamination import build_index, signature
from writ_dagster.core.tasks.measure import measure_axes
from writ_dagster.core.tasks.models import SynthesisConfig, TaskRecord
from writ_dagster.core.tasks.synthesis import closing_message, summarize
from writ_dagster.core.tau2_adapter import Task

# Below this many tasks a batch may honestly miss a write count; above it every count shows.
MIN_TASKS_FOR_FULL_RANGE = 30
# WRIT's point: read-heavy writes need several times the evidence of ordinary ones.
READ_HEAVY_RATIO = 3.0


def reverify_task(verifier: Verifier, record: TaskRecord) -> list[str]:
    """Problems found re-running one stored task's gold plan (empty if it still verifies)."""
    problems: list[str] = []
    tid = record.task_id
    try:
        task = Task.model_validate(record.task)
    except ValueError as exc:
        return [f"{tid}: stored task is not a valid tau2 Task ({str(exc).splitlines()[0]})"]
    actions = task.evaluation_criteria.actions if task.evaluation_criteria else None
    stored = [(s.name, s.arguments) for s in record.gold_actions]
    if [(a.name, a.arguments) for a in actions or []] != stored:
        problems.append(f"{tid}: the task's evaluation actions differ from its stored gold plan")
    run = verifier.execute(stored)
    for i, (step, res) in enumerate(zip(record.gold_actions, run.steps)):
        if res.error:
            problems.append(f"{tid}: step {i} {step.name} errors: {res.content[:200]}")
        elif step.kind == "write" and not res.changed:
            problems.append(f"{tid}: step {i} {step.name} does not change the DB")
    per_write = record.axes.per_write
    remeasured = measure_axes(
        record.gold_actions,
        [s.content for s in run.steps],
        [w.candidates for w in per_write],
        [w.burden for w in per_write],
        [w.comparisons for w in per_write],
    )
    if remeasured != record.axes:
        problems.append(f"{tid}: re-measured axes differ from the stored ones")
    # Only the assistant's messages and tool calls are scored, so any user opening will do.
    messages = gold_messages(task, run, "Hi, I need some help.", closing_message(task))
    reward = verifier.score(task, messages)
    if reward != 1.0:
        problems.append(f"{tid}: gold trajectory scores {reward}, not 1.0")
    return problems


def reverify(domain: Domain, records: Sequence[TaskRecord]) -> AuditReport:
    """Re-execute and re-score every stored task: no errors, every write changes the DB, reward 1."""
    verifier = Verifier(domain)
    problems = [p for r in records for p in reverify_task(verifier, r)]
    failing = len({p.split(":", 1)[0] for p in problems})
    return AuditReport(
        passed=not problems, problems=problems, figures={"tasks": len(records), "tasks_failing": failing}
    )


def coverage(records: Sequence[TaskRecord], config: SynthesisConfig) -> AuditReport:
    """Both WRIT axes are covered: write counts in range, and enough write-intensive and read-heavy tasks.

    The wanted shares are half the configured type shares (rejections thin some types more
    than others); a batch with no task fails.
    """
    figures = summarize(records)
    problems: list[str] = []
    n = len(records)
    if n == 0:
        return AuditReport(passed=False, problems=["the partition holds no task"], figures=figures)
    # A refusal or information task asks only what the policy forbids or what reads answer: no write, by design.
    # A conditional request whose condition fails makes no write: one fewer than the task was drawn with.
    out_of_range = [
        r.task_id
        for r in records
        if r.family not in ("refusal", "information")
        and not (config.min_writes - (r.family == "conditional") <= r.axes.writes <= config.max_writes)
    ]
    if out_of_range:
        problems.append(f"{len(out_of_range)} task(s) outside {config.min_writes}..{config.max_writes} writes")
    mix_total = sum(config.type_mix.values())
    wanted = {
        "write-intensive": config.type_mix.get("write-intensive", 0) / mix_total / 2,
        "read-heavy": config.type_mix.get("read-heavy", 0) / mix_total / 2,
    }
    got = {
        "write-intensive": sum(r.axes.writes >= config.write_intensive_min_writes for r in records) / n,
        "read-heavy": sum(r.axes.max_reads_before_write >= config.read_heavy_min_reads for r in records) / n,
    }
    axis_names = {
        "write-intensive": f">= {config.write_intensive_min_writes} writes",
        "read-heavy": f">= {config.read_heavy_min_reads} reads before a write",
    }
    for kind, share in got.items():
        if share < wanted[kind]:
            problems.append(f"share of tasks with {axis_names[kind]} is {share:.2f}, wanted >= {wanted[kind]:.2f}")
    missing = sorted(set(range(config.min_writes, config.max_writes + 1)) - {r.axes.writes for r in records})
    if missing and n >= MIN_TASKS_FOR_FULL_RANGE:
        problems.append(f"no task with {', '.join(map(str, missing))} write(s)")
    by_type = figures["mean_reads_per_write_by_type"]
    if "normal" in by_type and "read-heavy" in by_type and by_type["normal"] > 0:
        ratio = by_type["read-heavy"] / by_type["normal"]
        figures["read_heavy_over_normal_reads_per_write"] = round(ratio, 3)
        if ratio < READ_HEAVY_RATIO:
            problems.append(
                f"read-heavy tasks average {ratio:.2f}x the reads per write of normal ones, "
                f"wanted >= {READ_HEAVY_RATIO}x"
            )
    figures["wanted_shares"] = {k: round(v, 4) for k, v in wanted.items()}
    figures["shares"] = {k: round(v, 4) for k, v in got.items()}
    return AuditReport(passed=not problems, problems=problems, figures=figures)


def decontamination(
    domain: Domain, records: Sequence[TaskRecord], upstream_tasks_dir: str | None, others: Sequence[TaskRecord] = ()
) -> AuditReport:
    """No stored task has the (user, write set) of a τ²-bench base task or of another task here,
    repeats a base task's gold write, or uses a user or entity of a τ²-bench test task.

    ``others`` (tasks of the domain's other partitions) are only counted, not failed on.
    """
    index = build_index(domain, upstream_tasks_dir)
    problems: list[str] = []
    seen: dict[Any, str] = {}
    for r in records:
        sig = signature(domain, [(s.name, s.arguments) for s in r.gold_actions if s.kind == "write"])
        hits = index.collisions(sig)
        if hits:
            problems.append(f"{r.task_id}: same user and writes as base task(s) {', '.join(hits)}")
        writes = [(s.name, s.arguments) for s in r.gold_actions if s.kind == "write"]
        for found in (index.check_user(r.user_id), index.check_writes(writes, r.sources.entities)):
            if found is not None:
                problems.append(f"{r.task_id}: {found[0]} ({found[1]})")
        if sig is not None and sig in seen:
            problems.append(f"{r.task_id}: same user and writes as {seen[sig]} in this partition")
        elif sig is not None:
            seen[sig] = r.task_id
    elsewhere = 0
    for r in others:
        sig = signature(domain, [(s.name, s.arguments) for s in r.gold_actions if s.kind == "write"])
        elsewhere += sig in seen
    figures = {
        "tasks": len(records),
        "base_signatures": len(index.signatures),
        "upstream_indexed": upstream_tasks_dir is not None,
        "duplicates_in_other_partitions": elsewhere,
    }
    return AuditReport(passed=not problems, problems=problems, figures=figures)
