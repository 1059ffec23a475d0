"""Asset checks on each stored tasks partition: re-verification, axis coverage, decontamination."""

# No `from __future__ import annotations`: Dagster inspects the context annotation at definition time.
import dagster as dg

from writ_dagster.assets.tasks import tasks
from writ_dagster.core.audit_report import AuditReport
from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.storage.runs import read_partition_run
from writ_dagster.core.storage.tasks import read_tasks
from writ_dagster.core.tasks.audit import coverage, decontamination, reverify
from writ_dagster.partitions import domain_batch_partitions, split_key
from writ_dagster.resources.storage import WritStorage
from writ_dagster.resources.synthesis import SynthesisSettings

_MAX_LISTED = 20  # problems listed in the UI; the count is always complete


def check_result(
    report: AuditReport,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
) -> dg.AssetCheckResult:
    """An audit report as a check result: verdict, problem count, the first problems, figures."""
    shown = report.problems[:_MAX_LISTED]
    more = len(report.problems) - len(shown)
    text = "\n".join(f"- {p}" for p in shown) + (f"\n- … and {more} more" if more else "")
    return dg.AssetCheckResult(
        passed=report.passed,
        severity=severity,
        metadata={
            "problems": len(report.problems),
            "details": dg.MetadataValue.md(text or "_none_"),
            "figures": dg.MetadataValue.json(report.figures),
        },
    )


def missing_result(domain: str, batch: str) -> dg.AssetCheckResult:
    """A failed check for a partition that was never stored."""
    return dg.AssetCheckResult(passed=False, metadata={"details": f"{domain}/{batch} has not been stored"})


def _stored(context: dg.AssetCheckExecutionContext, storage: WritStorage):
    """The checked partition's domain, batch, stored tasks and run row (None if never stored)."""
    domain, batch = split_key(context.partition_key)
    with storage.connect(read_only=True) as con:
        return domain, batch, read_tasks(con, domain, batch), read_partition_run(con, domain, batch)


@dg.asset_check(
    asset=tasks,
    partitions_def=domain_batch_partitions,
    blocking=True,
    description="Every stored task of the partition re-executes without a tool error, each "
    "write changes the DB, the axes re-measure the same, and the gold "
    "trajectory still scores 1.0.",
)
def tasks_reverify(context: dg.AssetCheckExecutionContext, storage: WritStorage) -> dg.AssetCheckResult:
    """Re-run every stored gold plan of the partition."""
    domain, batch, records, run = _stored(context, storage)
    if run is None:
        return missing_result(domain, batch)
    return check_result(reverify(get_domain(domain), records))


@dg.asset_check(
    asset=tasks,
    partitions_def=domain_batch_partitions,
    blocking=False,
    description="Both WRIT axes are covered: write counts within the configured range, and "
    "the shares of tasks with many writes and with many reads before a write reach "
    "half their configured type shares. A warning only: a small batch varies.",
)
def tasks_axis_coverage(context: dg.AssetCheckExecutionContext, storage: WritStorage) -> dg.AssetCheckResult:
    """Measure axis coverage against the config the partition was produced with."""
    domain, batch, records, run = _stored(context, storage)
    if run is None:
        return missing_result(domain, batch)
    return check_result(coverage(records, run.config()), severity=dg.AssetCheckSeverity.WARN)


@dg.asset_check(
    asset=tasks,
    partitions_def=domain_batch_partitions,
    blocking=True,
    description="No stored task repeats the user and write set of a τ²-bench base task "
    "(installed tau2, plus the upstream sets if configured) or of another task "
    "in the partition.",
)
def tasks_decontamination(
    context: dg.AssetCheckExecutionContext, storage: WritStorage, synthesis: SynthesisSettings
) -> dg.AssetCheckResult:
    """Look every stored task up in the base-task index."""
    domain, batch = split_key(context.partition_key)
    with storage.connect(read_only=True) as con:
        records = read_tasks(con, domain, batch)
        others = [r for r in read_tasks(con, domain) if r.partition != batch]
        run = read_partition_run(con, domain, batch)
    if run is None:
        return missing_result(domain, batch)
    return check_result(decontamination(get_domain(domain), records, synthesis.upstream_dir(), others))


task_checks = [tasks_reverify, tasks_axis_coverage, tasks_decontamination]
