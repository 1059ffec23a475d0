"""Asset checks on stored user scripts and trajectories: script validity, rewards re-scored, success rate."""

# No `from __future__ import annotations`: Dagster inspects the context annotation at definition time.
from typing import Any

import dagster as dg

from writ_dagster.assets.checks import check_result, missing_result
from writ_dagster.assets.trajectories import trajectories
from writ_dagster.assets.user_scripts import user_scripts
from writ_dagster.core.simulation.attempts import is_infrastructure_error
from writ_dagster.core.simulation.audit import rescore, success_report, tau2_sample
from writ_dagster.core.simulation.records import TrajectoryRecord
from writ_dagster.core.simulation.summary import SUMMARY_COLUMNS, all_scripted, success_rate
from writ_dagster.core.stages.user_scripts import audit_scripts
from writ_dagster.core.storage.runs import read_stage_run
from writ_dagster.core.storage.scripts import read_user_scripts
from writ_dagster.core.storage.tasks import read_tasks
from writ_dagster.core.storage.trajectories import read_trajectories, stored_outcomes, trajectories_frame
from writ_dagster.partitions import domain_batch_partitions, split_key
from writ_dagster.resources.simulation import SimulationSettings
from writ_dagster.resources.storage import WritStorage

TAU2_SAMPLE_SIZE = 5  # tau2's evaluator builds fresh environments: ~0.5 s per trajectory


@dg.asset_check(
    asset=user_scripts,
    partitions_def=domain_batch_partitions,
    blocking=True,
    description="Every stored user script belongs to a stored task, matches its content hash and "
    "passes the script checker: every request, fact and criterion kept and said, no id "
    "or amount the agent must find by evidence leaked, slips corrected.",
)
def user_scripts_valid(context: dg.AssetCheckExecutionContext, storage: WritStorage) -> dg.AssetCheckResult:
    """Re-check every stored script of the partition."""
    domain, batch = split_key(context.partition_key)
    with storage.connect(read_only=True) as con:
        if read_stage_run(con, "user_scripts", domain, batch) is None:
            return missing_result(domain, batch)
        tasks, scripts = read_tasks(con, domain, batch), read_user_scripts(con, domain, batch)
    return check_result(audit_scripts(tasks, scripts))


def _stored(
    storage: WritStorage, domain: str, batch: str
) -> tuple[dict[str, dict[str, Any]], list[TrajectoryRecord]] | None:
    """(task dicts by id, stored trajectories) of a partition, or None if it was never completed."""
    with storage.connect(read_only=True) as con:
        if read_stage_run(con, "trajectories", domain, batch) is None:
            return None
        tasks = {t.task_id: t.task for t in read_tasks(con, domain, batch)}
        return tasks, read_trajectories(con, domain, batch)


@dg.asset_check(
    asset=trajectories,
    partitions_def=domain_batch_partitions,
    blocking=True,
    description="Every stored trajectory re-scores with the fast verifier (tau2's DB and "
    "COMMUNICATE rules) to its stored reward.",
)
def trajectories_rescore(context: dg.AssetCheckExecutionContext, storage: WritStorage) -> dg.AssetCheckResult:
    """Re-score every stored conversation of the partition."""
    domain, batch = split_key(context.partition_key)
    stored = _stored(storage, domain, batch)
    if stored is None:
        return missing_result(domain, batch)
    return check_result(rescore(*stored))


@dg.asset_check(
    asset=trajectories,
    partitions_def=domain_batch_partitions,
    blocking=True,
    description=f"A deterministic sample of {TAU2_SAMPLE_SIZE} stored trajectories (failures first) "
    "re-scored by tau2's own evaluate_simulation, in fresh environments with full DB "
    "hashes, reproduces the stored rewards.",
)
def trajectories_tau2_agreement(context: dg.AssetCheckExecutionContext, storage: WritStorage) -> dg.AssetCheckResult:
    """Re-score a sample with tau2's evaluator."""
    domain, batch = split_key(context.partition_key)
    stored = _stored(storage, domain, batch)
    if stored is None:
        return missing_result(domain, batch)
    return check_result(tau2_sample(*stored, n=TAU2_SAMPLE_SIZE))


@dg.asset_check(
    asset=trajectories,
    partitions_def=domain_batch_partitions,
    blocking=False,
    description="With scripted backends on both sides at least 95% of conversations score 1.0, with "
    "a model on either side at least the configured `model_success_floor` (a warning).",
)
def trajectories_success_rate(
    context: dg.AssetCheckExecutionContext, storage: WritStorage, simulation: SimulationSettings
) -> dg.AssetCheckResult:
    """Compare the partition's success rate with what scripted backends should reach."""
    domain, batch = split_key(context.partition_key)
    with storage.connect(read_only=True) as con:
        if read_stage_run(con, "trajectories", domain, batch) is None:
            return missing_result(domain, batch)
        frame = trajectories_frame(con, domain, batch, SUMMARY_COLUMNS)
    report = success_report(
        success_rate(frame), frame.height, all_scripted(frame), model_floor=simulation.model_success_floor
    )
    return check_result(report, severity=dg.AssetCheckSeverity.WARN)


@dg.asset_check(
    asset=trajectories,
    partitions_def=domain_batch_partitions,
    blocking=True,
    description="No stored conversation of the partition ended on an infrastructure failure "
    "(endpoint down, 5xx, timeout): such rows are not final and the next run retries them.",
)
def trajectories_final(context: dg.AssetCheckExecutionContext, storage: WritStorage) -> dg.AssetCheckResult:
    """Count the partition's conversations that failed on infrastructure."""
    domain, batch = split_key(context.partition_key)
    with storage.connect(read_only=True) as con:
        errors = [e for _, _, e in stored_outcomes(con, domain, batch).values()]
    failed = sum(is_infrastructure_error(e) for e in errors)
    return dg.AssetCheckResult(
        passed=failed == 0 and bool(errors),
        metadata={
            "infrastructure_failures": failed,
            "details": (
                f"{failed} conversations failed on infrastructure; run again to retry them"
                if failed
                else "none"
                if errors
                else f"{domain}/{batch} has no stored trajectories"
            ),
        },
    )


trajectory_checks = [
    user_scripts_valid,
    trajectories_rescore,
    trajectories_tau2_agreement,
    trajectories_success_rate,
    trajectories_final,
]
