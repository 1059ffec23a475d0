"""Runs whose process is gone: found and marked failed, so that one-at-a-time queues move again.

A SIGKILLed ``writ run`` (or run worker) leaves its Dagster run STARTED for ever; with one run at a
time, ``writ dev``'s queue then waits on it for ever. Dagster's run monitoring cannot see this
with the default run launcher (it has no worker health check), so WRIT looks at the process that
runs each in-progress run: ``writ run`` tags its runs with its pid and host, and a run launched by
the default launcher records its worker's pid in an engine event. ``writ run`` and ``writ dev``
check on start-up, and a sensor checks while ``writ dev`` is up; the pool slots such a run held
are given back too.

A server started for a run (vLLM) dies with its run's process by Linux's parent-death signal, and
is recorded for its run beside the instance (``core/llm/server_registry.py``); the same checks also
stop any recorded server whose run has ended while its process lives on (a run marked failed or
cancelled by hand or by these checks), or whose run is no longer in the instance.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import dagster as dg

from writ_dagster.core.llm.server_registry import registry_path, sweep

PID_TAG = "writ/pid"
HOST_TAG = "writ/host"
ORPHAN_SENSOR = "writ_orphaned_runs"
ORPHAN_SENSOR_INTERVAL_S = 30
_IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def process_tags() -> dict[str, str]:
    """Tags naming this process, put on each run it executes in process."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _worker_pid(instance: dg.DagsterInstance, run: dg.DagsterRun) -> int | None:
    """The pid of the process executing ``run`` on this machine, or None if it cannot be told."""
    if HOST_TAG in run.tags:
        if run.tags[HOST_TAG] != socket.gethostname() or not run.tags.get(PID_TAG, "").isdigit():
            return None
        return int(run.tags[PID_TAG])
    # Only the default launcher starts run workers on this machine (a pid from a pod means nothing here).
    from dagster._core.launcher import DefaultRunLauncher

    if not isinstance(instance.run_launcher, DefaultRunLauncher):
        return None
    pid = None
    for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.engine_event_data if entry.dagster_event else None
        value = data.metadata.get("pid") if data else None
        if value is not None and str(value.value).isdigit():
            pid = int(str(value.value))  # the latest one: the process that executes the steps
    return pid


def fail_orphaned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every in-progress run whose process is gone; returns their run ids."""
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=_IN_PROGRESS)):
        pid = _worker_pid(instance, run)
        if pid is None or pid == os.getpid() or _alive(pid):
            continue
        instance.report_run_failed(
            run,
            message=f"The process running this run (pid {pid}) is gone: marked failed so that queued runs can start.",
        )
        failed.append(run.run_id)
    _free_pool_slots(instance)
    return failed


def stop_servers_of_ended_runs(instance: dg.DagsterInstance) -> list[str]:
    """End every recorded server of this instance whose run has ended; says which (``run <id> (...)``)."""

    def ended(run_id: str) -> bool:
        run = instance.get_run_by_id(run_id)
        return run is None or run.is_finished  # a deleted run has no one left to stop its servers

    stopped = sweep(registry_path(instance.root_directory), ended)
    return [f"run {r.run_id} (pid {r.pid}, port {r.port}: {_said(r.command)})" for r in stopped]


def _said(command: tuple[str, ...]) -> str:
    """A command's first words as a person reads them: the program by its name, not its whole path."""
    return " ".join([Path(command[0]).name, *command[1:]]) if command else "?"


def _free_pool_slots(instance: dg.DagsterInstance) -> None:
    """Give back the pool slots (the `gpu` pool's one slot) still held by runs that have ended.

    A killed run's step keeps its slot, and every later step of that pool would wait on it for ever;
    without a daemon (``writ run``) nothing else frees it.
    """
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return
    holders = list(storage.get_concurrency_run_ids())
    if not holders:
        return
    for record in instance.get_run_records(filters=dg.RunsFilter(run_ids=holders)):
        if record.dagster_run.is_finished:
            storage.free_concurrency_slots_for_run(record.dagster_run.run_id)


def tidy_up(instance: dg.DagsterInstance) -> list[str]:
    """Fail the orphaned runs and stop the servers of ended runs; one sentence per kind of thing done."""
    said = []
    failed = fail_orphaned_runs(instance)
    if failed:
        said.append(f"marked failed {len(failed)} run(s) whose process is gone: {', '.join(failed)}")
    stopped = stop_servers_of_ended_runs(instance)
    if stopped:
        said.append(f"stopped {len(stopped)} server(s) still up after their run ended: {', '.join(stopped)}")
    return said


@dg.sensor(
    name=ORPHAN_SENSOR,
    minimum_interval_seconds=ORPHAN_SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks failed the runs whose process is gone (a killed `writ run` or run worker), "
    "so the one-at-a-time run queue moves again, and stops the servers of ended runs.",
)
def orphaned_runs_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    """Fail the orphaned runs and stop the servers of ended runs; never requests a run."""
    return dg.SkipReason("; ".join(tidy_up(context.instance)) or "no orphaned run")
