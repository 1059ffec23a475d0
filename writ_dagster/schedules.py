"""Automation: a daily schedule that grows the data set by one batch, and the SFT set's condition.

Each tick of :func:`daily_batch_schedule` adds the next batch key (one past the highest
existing ``bNNNN``) to the dynamic ``batch`` partitions and requests one run of the partition
job (tasks -> user scripts -> trajectories) per domain for it. The SFT set is then brought up
to date by declarative automation: :func:`sft_automation` re-materializes it once every
``trajectories`` partition has landed and none is missing or in progress.

Dagster 1.13's schedules can only return run requests (``SensorResult``'s
``dynamic_partitions_requests`` is for sensors), so the tick adds the key through the
instance itself. To keep a retried tick idempotent the rule is: if the highest batch has
never been run or materialized, this tick takes it instead of adding another; run keys are
``<batch>|<domain>``, which the scheduler never launches twice for one tick. A preview of the tick
(the UI's "Preview tick result", told from a real tick by its log key, which does not end with a
tick id) adds no key: it says which batch a real tick would add.
"""

from __future__ import annotations

import dagster as dg

from writ_dagster.core.keys import WRIT_DOMAINS, batch_key, check_batch_key
from writ_dagster.partitions import BATCH_PARTITIONS_NAME, domain_batch_key

DAILY_BATCH_SCHEDULE = "writ_daily_batch"
DAILY_CRON = "0 3 * * *"  # 03:00 UTC, once a day
SCHEDULED_BATCH_TAG = "writ/scheduled_batch"
_BATCH_RUN_TAG = "dagster/partition/batch"  # the tag Dagster puts on runs of a multi-partition key
_TASKS = dg.AssetKey("tasks")


def batch_number(key: str) -> int:
    """The number of a batch key (``'b0012'`` -> 12)."""
    return int(check_batch_key(key)[1:])


def next_batch_key(existing: list[str]) -> str:
    """One past the highest of ``existing`` batch keys (``b0000`` when there are none)."""
    return batch_key(max((batch_number(k) for k in existing), default=-1) + 1)


def batch_used(instance: dg.DagsterInstance, batch: str) -> bool:
    """Whether any run targeted ``batch`` or any ``tasks`` partition of it was materialized."""
    if instance.get_run_records(dg.RunsFilter(tags={_BATCH_RUN_TAG: batch}), limit=1):
        return True
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        materialized = instance.get_materialized_partitions(_TASKS)
    return any(f"{batch}|" in key for key in materialized)  # multi-partition keys read "batch|domain"


def claim_next_batch(instance: dg.DagsterInstance, add: bool = True) -> str:
    """The batch this tick materializes: the highest batch if still unused, else a new one (added only if
    ``add``)."""
    existing = [k for k in instance.get_dynamic_partitions(BATCH_PARTITIONS_NAME)]
    if existing:
        highest = max(existing, key=batch_number)
        if not batch_used(instance, highest):
            return highest
    key = next_batch_key(existing)
    if add:
        instance.add_dynamic_partitions(BATCH_PARTITIONS_NAME, [key])
    return key


def daily_batch_schedule(
    job: dg.UnresolvedAssetJobDefinition | dg.JobDefinition,
    cron_schedule: str = DAILY_CRON,
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.STOPPED,
) -> dg.ScheduleDefinition:
    """A schedule that adds the next batch and runs ``job`` (the partition job) for it in every domain."""

    @dg.schedule(
        name=DAILY_BATCH_SCHEDULE,
        job=job,
        cron_schedule=cron_schedule,
        execution_timezone="UTC",
        default_status=default_status,
        description=(
            "Once a day: add the next batch key (one past the highest) and run tasks -> user scripts "
            "-> trajectories for it in each domain; the SFT set then follows by declarative automation "
            "(turn on default_automation_condition_sensor too)."
        ),
    )
    def writ_daily_batch(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest] | dg.SkipReason:
        # A preview (the UI's "Preview tick result") must change nothing. Dagster's scheduler keys a real tick's
        # logs [repository, schedule, <tick id>]; a preview has no key, or (through a code server) one made up
        # from the tick's time, "20261208_030000".
        preview = not context.log_key or not str(context.log_key[-1]).isdigit()
        batch = claim_next_batch(context.instance, add=not preview)
        if preview and batch not in context.instance.get_dynamic_partitions(BATCH_PARTITIONS_NAME):
            return dg.SkipReason(
                f"preview: a tick now would add batch {batch} and run it for "
                f"{', '.join(WRIT_DOMAINS)} (a preview adds nothing)"
            )
        context.log.info(f"scheduled batch {batch} for {', '.join(WRIT_DOMAINS)}")
        return [
            dg.RunRequest(
                run_key=f"{batch}|{domain}",
                partition_key=domain_batch_key(domain, batch),
                tags={SCHEDULED_BATCH_TAG: batch},
            )
            for domain in WRIT_DOMAINS
        ]

    return writ_daily_batch


def sft_automation() -> dg.AutomationCondition:
    """When ``sft_set`` re-materializes: after any upstream partition updates (or it goes missing),
    once no upstream partition is missing or in progress and it is not already running.

    This is Dagster's ``eager`` condition. A new batch's runs land one domain at a time; because
    the other domain's partition is missing until it lands, the SFT set is rebuilt once per batch,
    not once per domain. A batch that never lands (a failed run) holds the SFT set back until it is
    re-run or its key deleted.
    """
    return dg.AutomationCondition.eager()
