"""The daily batch schedule and the SFT set's automation condition, on real Dagster instances."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest

from writ_dagster.core.keys import WRIT_DOMAINS
from writ_dagster.definitions import PARTITION_JOB, build_definitions, defs
from writ_dagster.partitions import BATCH_PARTITIONS_NAME
from writ_dagster.resources import SynthesisSettings, WritStorage
from writ_dagster.schedules import DAILY_BATCH_SCHEDULE, SCHEDULED_BATCH_TAG, next_batch_key, sft_automation

SFT = dg.AssetKey("sft_set")
DAY1 = dt.datetime(2026, 6, 1, 3, tzinfo=dt.timezone.utc)
DAY2 = DAY1 + dt.timedelta(days=1)


def _tick(definitions: dg.Definitions, instance: dg.DagsterInstance, when: dt.datetime) -> list[dg.RunRequest]:
    """A tick as the scheduler daemon evaluates it: its log key ends with the tick's id (a preview's has none,
    or one made from the tick's time)."""
    schedule = definitions.get_schedule_def(DAILY_BATCH_SCHEDULE)
    with dg.ScheduleEvaluationContext(instance_ref=instance.get_ref(), scheduled_execution_time=when,
                                      log_key=["writ", DAILY_BATCH_SCHEDULE, "42"],
                                      repository_def=definitions.get_repository_def()) as context:
        data = schedule.evaluate_tick(context)
    assert data.skip_message is None
    return list(data.run_requests)


def _batches(instance: dg.DagsterInstance) -> list[str]:
    return sorted(instance.get_dynamic_partitions(BATCH_PARTITIONS_NAME))


def _requested(requests: list[dg.RunRequest]) -> dict[str, tuple[str, str, str]]:
    """run_key -> (partition key, batch tag, domain tag) of each request."""
    return {r.run_key: (str(r.partition_key), r.tags["dagster/partition/batch"], r.tags["dagster/partition/domain"])
            for r in requests}


def test_next_batch_key() -> None:
    assert next_batch_key([]) == "b0000"
    assert next_batch_key(["b0000", "b0002", "b0001"]) == "b0003"
    assert next_batch_key(["b0010", "b0009"]) == "b0011"  # the highest number, not the last key
    with pytest.raises(ValueError, match="bad batch key"):
        next_batch_key(["nope"])


def test_schedule_is_registered_stopped_daily_on_the_partition_job() -> None:
    schedule = defs.get_schedule_def(DAILY_BATCH_SCHEDULE)
    assert schedule.job_name == PARTITION_JOB
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert schedule.cron_schedule == "0 3 * * *" and schedule.execution_timezone == "UTC"


@pytest.mark.slow
def test_daily_tick_adds_next_batch_per_domain_idempotently(tmp_path: Path) -> None:
    definitions = build_definitions(storage=WritStorage(database=str(tmp_path / "w.duckdb")),
                                    synthesis=SynthesisSettings(tasks_per_batch=2))
    with dg.instance_for_test() as instance:  # a real (sqlite) instance, as the daemon's
        first = _tick(definitions, instance, DAY1)
        assert _batches(instance) == ["b0000"]
        assert _requested(first) == {f"b0000|{d}": (f"b0000|{d}", "b0000", d) for d in WRIT_DOMAINS}
        assert all(r.tags[SCHEDULED_BATCH_TAG] == "b0000" and r.tags["dagster/schedule_name"] == DAILY_BATCH_SCHEDULE
                   for r in first)
        # The same tick evaluated again (a retried tick): no new key, the same run keys.
        again = _tick(definitions, instance, DAY1)
        assert _batches(instance) == ["b0000"] and _requested(again) == _requested(first)

        # Run one requested partition for real; the batch is now used, so the next day adds b0001.
        job = definitions.get_job_def(PARTITION_JOB)
        result = job.execute_in_process(instance=instance, partition_key=first[0].partition_key,
                                        tags=dict(first[0].tags))
        assert result.success
        second = _tick(definitions, instance, DAY2)
        assert _batches(instance) == ["b0000", "b0001"]
        assert _requested(second) == {f"b0001|{d}": (f"b0001|{d}", "b0001", d) for d in WRIT_DOMAINS}
        assert _requested(_tick(definitions, instance, DAY2)) == _requested(second)
        assert _batches(instance) == ["b0000", "b0001"]

        # A key a user added by hand and never ran is taken by the next tick, not skipped over.
        instance.add_dynamic_partitions(BATCH_PARTITIONS_NAME, ["b0005"])
        third = _tick(definitions, instance, DAY2 + dt.timedelta(days=1))
        assert {r.tags["dagster/partition/batch"] for r in third} == {"b0005"} and "b0006" not in _batches(instance)


def test_a_preview_of_the_tick_adds_no_batch() -> None:
    """The UI's "Preview tick result" evaluates the schedule without a log key: it says which batch a tick
    would add, and adds none; where the highest batch is unused, it shows that batch's runs."""
    schedule, repository = defs.get_schedule_def(DAILY_BATCH_SCHEDULE), defs.get_repository_def()
    with dg.instance_for_test() as instance:
        for hand_added in ([], ["b0000"]):  # then a key added by hand and never run
            instance.add_dynamic_partitions(BATCH_PARTITIONS_NAME, hand_added)
            with dg.build_schedule_context(instance=instance, scheduled_execution_time=DAY1,
                                           repository_def=repository) as preview:
                data = schedule.evaluate_tick(preview)
            assert _batches(instance) == hand_added
            if not hand_added:
                assert not data.run_requests
                assert data.skip_message.startswith("preview: a tick now would add batch b0000 and run it for ")
            else:
                assert {r.run_key for r in data.run_requests} == {f"b0000|{d}" for d in WRIT_DOMAINS}


def _land(instance: dg.DagsterInstance, *partitions: str) -> None:
    for partition in partitions:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="trajectories", partition=partition))


def _build_sft(instance: dg.DagsterInstance) -> None:
    """What the requested run does (the SFT set's own code is not under test here)."""
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=SFT))


def test_sft_set_follows_new_trajectory_partitions_once_per_batch() -> None:
    # The real definitions: the SFT set carries the condition, and it alone is automated.
    graph = defs.resolve_asset_graph()
    automated = {key for key in graph.get_all_asset_keys() if graph.get(key).automation_condition is not None}
    assert automated == {SFT} and graph.get(SFT).automation_condition == sft_automation()
    only_sft = dg.AssetSelection.keys(SFT)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(BATCH_PARTITIONS_NAME, ["b0000"])

    def evaluate(cursor: object) -> tuple[int, object]:
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=only_sft,
                                                   cursor=cursor)
        assert result.total_requested == result.get_num_requested(SFT)  # nothing but the SFT set
        return result.get_num_requested(SFT), result.cursor

    n, cursor = evaluate(None)
    assert n == 0  # no trajectories yet
    _land(instance, "b0000|airline")
    n, cursor = evaluate(cursor)
    assert n == 0  # retail's partition of the batch is still missing
    _land(instance, "b0000|retail")
    n, cursor = evaluate(cursor)
    assert n == 1  # the whole batch landed: rebuild once
    n, cursor = evaluate(cursor)
    assert n == 0  # already requested; not again until something new lands
    _build_sft(instance)
    n, cursor = evaluate(cursor)
    assert n == 0  # its own materialization is no reason to rebuild

    # The schedule's next batch: nothing until both domains land, then exactly one rebuild.
    instance.add_dynamic_partitions(BATCH_PARTITIONS_NAME, ["b0001"])
    _land(instance, "b0001|retail")
    n, cursor = evaluate(cursor)
    assert n == 0
    _land(instance, "b0001|airline")
    n, cursor = evaluate(cursor)
    assert n == 1
    _build_sft(instance)
    n, cursor = evaluate(cursor)
    assert n == 0

    # Re-materializing one old partition rebuilds the SFT set (which reads every partition) once.
    _land(instance, "b0000|airline")
    n, cursor = evaluate(cursor)
    assert n == 1


@pytest.mark.slow
def test_rematerializing_one_partition_marks_only_its_dependents_stale(tmp_path: Path) -> None:
    """Data versions at work: new content in tasks b0000|airline makes exactly user_scripts b0000|airline stale."""
    from dagster._core.definitions.data_version import StaleStatus
    from dagster._utils.test.data_versions import get_stale_status_resolver  # the resolver behind the UI badge

    def definitions(tasks_per_batch: int) -> dg.Definitions:
        return build_definitions(storage=WritStorage(database=str(tmp_path / "w.duckdb")),
                                 synthesis=SynthesisSettings(tasks_per_batch=tasks_per_batch))

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(BATCH_PARTITIONS_NAME, ["b0000"])
    keys = [f"b0000|{d}" for d in WRIT_DOMAINS]
    for key in keys:
        assert definitions(2).get_job_def(PARTITION_JOB).execute_in_process(instance=instance, partition_key=key).success
    changed = definitions(3)  # another setting: the airline batch gets new content and a new data version
    assert changed.get_job_def("tasks_job").execute_in_process(instance=instance, partition_key=keys[0]).success

    resolver = get_stale_status_resolver(instance, list(changed.resolve_asset_graph().assets_defs))
    stale = {(asset, key) for asset in ("tasks", "user_scripts", "trajectories") for key in keys
             if resolver.get_status(dg.AssetKey(asset), key) == StaleStatus.STALE}
    assert stale == {("user_scripts", keys[0])}
    [cause] = resolver.get_stale_root_causes(dg.AssetKey("user_scripts"), keys[0])
    assert cause.reason == "has a new data version"
