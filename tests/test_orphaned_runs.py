"""Runs whose process is gone are marked failed, so a one-at-a-time queue moves again; the servers
of ended runs are stopped.

A real `writ run` is SIGKILLed mid-partition (its Dagster run stays STARTED); the next `writ run`
marks that run FAILURE on start-up and finishes. The sensor `writ dev` runs does the same on a
real Dagster instance, and leaves alone the runs whose process is alive.

Servers are real loopback HTTP servers (with a second process in their group, as vLLM's engine
worker) started through the launcher every vLLM server goes through, recorded for a run of a real
instance: the sensor and `writ run`'s start-up stop those of runs marked failed while the process
that started them lives (where the parent-death signal never fires), and never a process that only
has a recorded server's pid.
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

from writ_dagster.core.llm.server_registry import (
    ServerOwner,
    add_record,
    launch,
    read_records,
    registry_path,
    remove_record,
    stop,
)
from writ_dagster.core.llm.vllm_server import free_port
from writ_dagster.core.processes import group_members
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


SERVER = "sleep 600 & exec {python} -m http.server {port} --bind 127.0.0.1"


def _server(owner: ServerOwner) -> subprocess.Popen:
    """A loopback HTTP server and a second process in its group, launched and recorded for ``owner``'s run."""
    port = free_port()
    proc = launch(["sh", "-c", SERVER.format(python=sys.executable, port=port)], env=os.environ,
                  stdout=subprocess.DEVNULL, owner=owner, port=port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if len(group_members(proc.pid)) == 2 and sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.1)
    raise AssertionError("the server did not listen within 30 s")


def _gone_within(proc: subprocess.Popen, seconds: float) -> bool:
    """Whether ``proc``'s whole process group is gone within ``seconds``."""
    proc.wait(timeout=seconds)
    deadline = time.monotonic() + seconds
    while group_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not group_members(proc.pid)


def _end(servers: list[subprocess.Popen]) -> None:
    for proc in servers:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def _pretend_pid_reused(registry: Path, proc: subprocess.Popen) -> None:
    """Record ``proc`` as if the recorded server had ended and the kernel had given its pid to ``proc``:
    the same pid, an earlier start time."""
    [record] = [r for r in read_records(registry) if r.pid == proc.pid]
    remove_record(registry, record.pid, record.start_time)
    add_record(registry, record.model_copy(update={"start_time": record.start_time - 1}))


@pytest.mark.timeout(120)
def test_the_sensor_stops_the_servers_of_ended_runs_and_no_other_process(tmp_path: Path) -> None:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        ended, going = started_run(instance, os.getpid()), started_run(instance, os.getpid())
        registry = registry_path(instance.root_directory)
        servers = {"ended": _server(ServerOwner.for_run(ended, instance.root_directory)),
                   "going": _server(ServerOwner.for_run(going, instance.root_directory)),
                   "pid reused": _server(ServerOwner.for_run(ended, instance.root_directory))}
        try:
            _pretend_pid_reused(registry, servers["pid reused"])
            # marked failed while its process (this one) lives: the parent-death signal never fires
            instance.report_run_failed(instance.get_run_by_id(ended), message="failed by hand")
            with dg.build_sensor_context(instance=instance) as context:
                result = orphaned_runs_sensor(context)
            assert (f"stopped 1 server(s) still up after their run ended: run {ended} "
                    f"(pid {servers['ended'].pid}, port ") in str(result.skip_message)
            assert _gone_within(servers["ended"], 30)
            assert [len(group_members(servers[k].pid)) for k in ("going", "pid reused")] == [2, 2]
            # the stopped server's record is removed, the pid-reused one dropped as stale
            assert [(r.pid, r.run_id) for r in read_records(registry)] == [(servers["going"].pid, going)]
            with dg.build_sensor_context(instance=instance) as context:
                assert orphaned_runs_sensor(context).skip_message == "no orphaned run"
        finally:
            _end(list(servers.values()))


@pytest.mark.timeout(120)
def test_workers_whose_server_died_are_stopped_with_their_run_and_stopping_forgets_a_server(tmp_path: Path) -> None:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        run_id = started_run(instance, os.getpid())
        owner = ServerOwner.for_run(run_id, instance.root_directory)
        servers = [_server(owner), _server(owner)]
        try:
            stopped_normally = servers.pop()
            stop(stopped_normally, owner)
            assert stopped_normally.returncode is not None and group_members(stopped_normally.pid) == []
            assert [r.pid for r in read_records(owner.registry)] == [servers[0].pid]
            # the leader dies (and is reaped) on its own; its worker lives on, labelled with the run
            os.kill(servers[0].pid, signal.SIGKILL)
            servers[0].wait()
            [worker] = group_members(servers[0].pid)
            instance.report_run_failed(instance.get_run_by_id(run_id), message="failed by hand")
            with dg.build_sensor_context(instance=instance) as context:
                assert f"run {run_id}" in str(orphaned_runs_sensor(context).skip_message)
            assert _gone_within(servers[0], 30), f"worker {worker} outlived its run"
            assert read_records(owner.registry) == []
        finally:
            _end(servers)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_next_writ_run_stops_the_servers_of_runs_it_marks_failed(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from writ_dagster.instance import ensure_dagster_home

    monkeypatch.setenv("WRIT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with dg.DagsterInstance.from_config(str(ensure_dagster_home())) as instance:  # the one `writ run` opens
        # a run whose process is gone, whose server lives on (no parent-death signal reached it)
        orphaned = started_run(instance, dead_pid())
        servers = {"orphaned": _server(ServerOwner.for_run(orphaned, instance.root_directory)),
                   "pid reused": _server(ServerOwner.for_run(orphaned, instance.root_directory))}
        _pretend_pid_reused(registry_path(instance.root_directory), servers["pid reused"])
    try:
        proc = subprocess.Popen([sys.executable, "-m", "writ_dagster.cli", *ARGS], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
        said = []
        for line in proc.stderr:  # type: ignore[union-attr]
            said.append(line)
            if "still up after their run ended" in line:
                proc.send_signal(signal.SIGTERM)  # the start-up was what this test is about
                break
        proc.wait(timeout=120)
        assert f"whose process is gone: {orphaned}" in "".join(said), "".join(said)[-3000:]
        assert f"stopped 1 server(s) still up after their run ended: run {orphaned} " in "".join(said)
        assert _gone_within(servers["orphaned"], 30)
        assert len(group_members(servers["pid reused"].pid)) == 2
    finally:
        _end(list(servers.values()))
