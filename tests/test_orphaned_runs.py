"""Runs whose process is gone are marked failed, so a one-at-a-time queue moves again.

A real `writ run` is SIGKILLed mid-partition (its Dagster run stays STARTED); the next `writ run`
marks that run FAILURE on start-up and finishes. The sensor `writ dev` runs does the same on a
real Dagster instance, and leaves alone the runs whose process is alive.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest

from writ_dagster.orphans import HOST_TAG, PID_TAG, orphaned_runs_sensor

ARGS = ["run", "--domain", "airline", "--batch", "b0000", "--tasks-per-batch", "10", "--variants", "6",
        "--workers", "1", "--max-concurrency", "1", "--until", "trajectories"]
PROGRESS = re.compile(r"airline/b0000: stored (\d+)/(\d+) trajectories")


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def started_run(instance: dg.DagsterInstance, pid: int, host: str | None = None) -> str:
    """A STARTED run in ``instance`` said to be executed by process ``pid`` on ``host`` (default: here)."""
    run = instance.add_run(dg.DagsterRun(job_name="partition_job", run_id=str(uuid.uuid4()),
                                         status=dg.DagsterRunStatus.STARTED,
                                         tags={PID_TAG: str(pid), HOST_TAG: host or socket.gethostname()}))
    return run.run_id


def test_the_sensor_fails_runs_whose_process_is_gone(tmp_path: Path) -> None:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        gone = started_run(instance, dead_pid())
        alive = started_run(instance, os.getppid())
        elsewhere = started_run(instance, dead_pid(), host="another-machine")
        # The dead run's step holds the `gpu` pool's only slot: the next gpu step would wait for ever.
        instance.event_log_storage.set_concurrency_slots("gpu", 1)
        instance.event_log_storage.claim_concurrency_slot("gpu", gone, "trajectories")
        with dg.build_sensor_context(instance=instance) as context:
            result = orphaned_runs_sensor(context)
        assert gone in str(result.skip_message)
        status = {rid: instance.get_run_by_id(rid).status for rid in (gone, alive, elsewhere)}
        assert status == {gone: dg.DagsterRunStatus.FAILURE, alive: dg.DagsterRunStatus.STARTED,
                          elsewhere: dg.DagsterRunStatus.STARTED}
        assert instance.event_log_storage.get_concurrency_info("gpu").active_slot_count == 0


@pytest.mark.slow
def test_a_killed_run_is_marked_failed_and_the_next_run_proceeds(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = dict(os.environ, WRIT_HOME=str(home), PYTHONUNBUFFERED="1")
    env.pop("DAGSTER_HOME", None)
    proc = subprocess.Popen([sys.executable, "-m", "writ_dagster.cli", *ARGS, "-v"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        for line in proc.stderr:  # type: ignore[union-attr]
            match = PROGRESS.search(line)
            if match and 0 < int(match[1]) < int(match[2]):
                os.killpg(proc.pid, signal.SIGKILL)
                break
        assert proc.wait(timeout=60) == -signal.SIGKILL, "the run ended before it could be killed"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        stale = [r.run_id for r in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))]
    assert len(stale) == 1

    again = subprocess.run([sys.executable, "-m", "writ_dagster.cli", *ARGS], env=env, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"whose process is gone: {stale[0]}" in again.stderr
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        assert instance.get_run_by_id(stale[0]).status == dg.DagsterRunStatus.FAILURE
        in_progress = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        assert not in_progress


def _labelled_server(run_id: str, instance_dir: str) -> subprocess.Popen:
    """A real loopback HTTP server with a second process in its group (as vLLM's engine worker), labelled
    as started for ``run_id`` in the instance at ``instance_dir``."""
    from writ_dagster.core.llm.vllm_server import run_labels

    script = f"sleep 600 & exec {sys.executable} -m http.server 0 --bind 127.0.0.1"
    return subprocess.Popen(["sh", "-c", script], env={**os.environ, **run_labels(run_id, instance_dir)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def test_the_sensor_stops_the_servers_of_runs_that_ended_and_no_other(tmp_path: Path) -> None:
    from writ_dagster.core.llm.vllm_server import group_members

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        ended = started_run(instance, os.getpid())
        going = started_run(instance, os.getpid())
        here = instance.root_directory
        servers = {"ended": _labelled_server(ended, here), "going": _labelled_server(going, here),
                   "elsewhere": _labelled_server(ended, str(tmp_path / "another-instance"))}
        try:
            deadline = time.monotonic() + 30
            while any(len(group_members(p.pid)) < 2 for p in servers.values()) and time.monotonic() < deadline:
                time.sleep(0.1)
            # marked failed while its process (this one) lives: the parent-death signal never fires
            instance.report_run_failed(instance.get_run_by_id(ended), message="failed by hand")
            with dg.build_sensor_context(instance=instance) as context:
                result = orphaned_runs_sensor(context)
            assert f"stopped 1 server(s) still up after their run ended: run {ended}" in str(result.skip_message)
            assert servers["ended"].wait(timeout=30) is not None and group_members(servers["ended"].pid) == []
            assert [len(group_members(servers[k].pid)) for k in ("going", "elsewhere")] == [2, 2]
            with dg.build_sensor_context(instance=instance) as context:
                assert orphaned_runs_sensor(context).skip_message == "no orphaned run"
        finally:
            for proc in servers.values():
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
