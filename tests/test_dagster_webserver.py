"""The real UI: `dagster dev -w workspace.yaml` on loopback loads every asset, check and schedule
of ``writ_dagster.definitions.defs``, runs one partition launched over GraphQL, and stops cleanly.

Everything goes through the webserver's own ``/graphql`` endpoint, which is what the UI uses.
``dagster dev`` runs from Python in its own session (started with ``&`` from a shell it ignores
SIGINT/SIGTERM), and the whole process group is ended afterwards; the test then checks that
none of the processes it saw (webserver, daemon, code server, run workers) is still alive.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("requests")

from dagster_dev import DagsterDev  # noqa: E402  (needs requests)

ROOT = Path(__file__).resolve().parents[1]
RUN_TIMEOUT_S = 300.0
PARTITION = "b0000|airline"
MINIMUM_ASSETS = {"tasks", "user_scripts", "trajectories"}
# Small synthesis through run config: the resource's defaults stay as they are.
RUN_CONFIG = {"resources": {"synthesis": {"config": {"tasks_per_batch": 2}}}}

REPOSITORY_QUERY = """
query Repo($selector: RepositorySelector!) {
  repositoryOrError(repositorySelector: $selector) {
    __typename
    ... on Repository {
      jobs { name }
      schedules { name scheduleState { status } }
      sensors { name sensorState { status } }
      assetNodes {
        assetKey { path }
        assetChecksOrError { __typename ... on AssetChecks { checks { name } } }
      }
    }
    ... on PythonError { message }
  }
}"""

ADD_PARTITION = """
mutation Add($selector: RepositorySelector!, $name: String!, $key: String!) {
  addDynamicPartition(repositorySelector: $selector, partitionsDefName: $name, partitionKey: $key) {
    __typename
    ... on AddDynamicPartitionSuccess { partitionsDefName partitionKey }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
    ... on DuplicateDynamicPartitionError { partitionName }
  }
}"""

# The UI's "Preview tick result" on a schedule.
SCHEDULE_DRY_RUN = """
mutation DryRun($selector: ScheduleSelector!, $timestamp: Float) {
  scheduleDryRun(selectorData: $selector, timestamp: $timestamp) {
    __typename
    ... on DryRunInstigationTick { evaluationResult { skipReason runRequests { runKey } error { message } } }
    ... on PythonError { message }
  }
}"""
LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status tags { key value } } }
    ... on PythonError { message stack }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
    ... on UnauthorizedError { message }
  }
}"""

RUNS_QUERY = """
query Runs($statuses: [RunStatus!]) {
  runsOrError(filter: {statuses: $statuses}) {
    __typename
    ... on Runs { results { runId status tags { key value } } }
  }
}"""

RUN_QUERY = """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status stats { __typename ... on RunStatsSnapshot { stepsSucceeded stepsFailed } } }
    ... on PythonError { message }
  }
}"""

MATERIALIZATIONS_QUERY = """
query Mats($key: AssetKeyInput!, $partitions: [String!]) {
  assetOrError(assetKey: $key) {
    __typename
    ... on Asset { assetMaterializations(partitions: $partitions) { partition runId } }
  }
}"""


@pytest.fixture()
def dagster_dev(tmp_path: Path) -> Iterator[DagsterDev]:
    writ_home = tmp_path / "writ-home"
    dagster_home = tmp_path / "dagster-home"
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "WRIT_HOME")}
    env.update(WRIT_HOME=str(writ_home), DAGSTER_HOME=str(dagster_home), DAGSTER_DISABLE_TELEMETRY="1",
               LITELLM_LOCAL_MODEL_COST_MAP="True")
    # writ's own instance settings (run queue of 1, pool limits), written as `writ dev` writes them.
    saved = {k: os.environ.get(k) for k in ("WRIT_HOME", "DAGSTER_HOME")}
    os.environ.update(WRIT_HOME=str(writ_home), DAGSTER_HOME=str(dagster_home))
    try:
        from writ_dagster.instance import ensure_dagster_home

        assert ensure_dagster_home() == dagster_home.resolve()
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    server = DagsterDev(ROOT, env, tmp_path / "dagster-dev.log")
    try:
        yield server
    finally:
        leftovers = server.stop()
        assert not leftovers, f"processes left running: {sorted(leftovers)}"


def _expected() -> tuple[set[str], set[tuple[str, str]], set[str], set[str], set[str]]:
    """Asset keys, (asset, check) pairs, schedules, sensors and jobs that ``defs`` holds."""
    from writ_dagster.definitions import defs

    graph = defs.resolve_asset_graph()
    repo = defs.get_repository_def()
    assets = {key.to_user_string() for key in graph.get_all_asset_keys()}
    checks = {(key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys}
    return (assets, checks, {s.name for s in repo.schedule_defs}, {s.name for s in repo.sensor_defs},
            {j.name for j in repo.get_all_jobs()})


@pytest.mark.slow
def test_dagster_dev_loads_everything_and_runs_a_partition(dagster_dev: DagsterDev, tmp_path: Path) -> None:
    [entry] = dagster_dev.wait_loaded()
    # What the stop must end: dagster dev's webserver, daemon and code server (and later the run's worker).
    commands = " ".join(dagster_dev.commands())
    assert all(part in commands for part in ("dagster_webserver", "dagster._daemon", "code-server")), commands
    location = entry["locationOrLoadError"]
    assert location["__typename"] == "RepositoryLocation", location
    [repository] = location["repositories"]
    selector = {"repositoryLocationName": location["name"], "repositoryName": repository["name"]}

    repo = dagster_dev.gql(REPOSITORY_QUERY, {"selector": selector})["repositoryOrError"]
    assert repo["__typename"] == "Repository", repo
    loaded_assets = {"/".join(n["assetKey"]["path"]) for n in repo["assetNodes"]}
    loaded_checks = {("/".join(n["assetKey"]["path"]), c["name"]) for n in repo["assetNodes"]
                     if n["assetChecksOrError"]["__typename"] == "AssetChecks"
                     for c in n["assetChecksOrError"]["checks"]}
    assets, checks, schedules, sensors, jobs = _expected()
    assert MINIMUM_ASSETS <= assets
    assert loaded_assets == assets
    assert checks and loaded_checks == checks
    assert "writ_daily_batch" in schedules
    assert {s["name"] for s in repo["schedules"]} == schedules
    assert {s["name"] for s in repo["sensors"]} == sensors
    assert {"partition_job"} <= jobs <= {j["name"] for j in repo["jobs"]}
    # Nothing starts on its own: the daily schedule (and any automation sensor) are off until turned on;
    # only the sensor that fails runs whose process is gone (it launches nothing) is on.
    assert {s["scheduleState"]["status"] for s in repo["schedules"]} == {"STOPPED"}
    states = {s["name"]: s["sensorState"]["status"] for s in repo["sensors"]}
    assert states.pop("writ_orphaned_runs") == "RUNNING"
    assert set(states.values()) <= {"STOPPED"}

    # A preview of the daily tick (the UI's "Preview tick result") says which batch it would add and adds none.
    preview = dagster_dev.gql(SCHEDULE_DRY_RUN, {"selector": {**selector, "scheduleName": "writ_daily_batch"},
                                                 "timestamp": time.time()})["scheduleDryRun"]
    assert preview["__typename"] == "DryRunInstigationTick", preview
    assert (preview["evaluationResult"]["skipReason"] or "").startswith("preview: a tick now would add batch b0000"), \
        preview
    import dagster as dg

    with dg.DagsterInstance.from_config(dagster_dev.env["DAGSTER_HOME"]) as instance:
        assert instance.get_dynamic_partitions("batch") == []

    added = dagster_dev.gql(ADD_PARTITION, {"selector": selector, "name": "batch", "key": "b0000"})
    assert added["addDynamicPartition"]["__typename"] == "AddDynamicPartitionSuccess", added

    batch, domain = PARTITION.split("|")
    tags = [{"key": "dagster/partition", "value": PARTITION}, {"key": "dagster/partition/batch", "value": batch},
            {"key": "dagster/partition/domain", "value": domain}]
    params = {"selector": {**selector, "jobName": "partition_job"}, "runConfigData": RUN_CONFIG,
              "executionMetadata": {"tags": tags}}
    launched = dagster_dev.gql(LAUNCH_RUN, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    deadline = time.monotonic() + RUN_TIMEOUT_S
    status = None
    while time.monotonic() < deadline:
        run = dagster_dev.gql(RUN_QUERY, {"runId": run_id})["runOrError"]
        status = run["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(1.0)
    assert status == "SUCCESS", f"run {run_id} ended {status}: {run}\n{dagster_dev.log_tail()}"
    assert run["stats"]["stepsFailed"] == 0 and run["stats"]["stepsSucceeded"] >= 3

    # The run materialized exactly that partition of each asset of the job, into WRIT_HOME's database.
    for asset in ("tasks", "user_scripts", "trajectories"):
        mats = dagster_dev.gql(MATERIALIZATIONS_QUERY, {"key": {"path": [asset]}, "partitions": None})
        events = mats["assetOrError"]["assetMaterializations"]
        assert [(e["partition"], e["runId"]) for e in events] == [(PARTITION, run_id)], (asset, events)

    from writ_dagster.core.storage.schema import connect

    with connect(tmp_path / "writ-home" / storage_filename(), read_only=True) as con:
        [(n_tasks,)] = con.execute("select count(*) from tasks where domain = 'airline'").fetchall()
        [(n_traj,)] = con.execute("select count(*) from trajectories where domain = 'airline'").fetchall()
    assert n_tasks == 2 and n_traj >= 2


def storage_filename() -> str:
    from writ_dagster.core.home import DB_FILENAME

    return DB_FILENAME


def _selector(dagster_dev: DagsterDev) -> dict:
    """The repository selector of the loaded code location (waits for it to load)."""
    [entry] = dagster_dev.wait_loaded()
    location = entry["locationOrLoadError"]
    [repository] = location["repositories"]
    return {"repositoryLocationName": location["name"], "repositoryName": repository["name"]}


def _launch(dagster_dev: DagsterDev, selector: dict, partition: str) -> str:
    batch, domain = partition.split("|")
    added = dagster_dev.gql(ADD_PARTITION, {"selector": selector, "name": "batch", "key": batch})
    assert added["addDynamicPartition"]["__typename"] in ("AddDynamicPartitionSuccess",
                                                          "DuplicateDynamicPartitionError"), added
    tags = [{"key": "dagster/partition", "value": partition}, {"key": "dagster/partition/batch", "value": batch},
            {"key": "dagster/partition/domain", "value": domain}]
    params = {"selector": {**selector, "jobName": "partition_job"}, "runConfigData": RUN_CONFIG,
              "executionMetadata": {"tags": tags}}
    launched = dagster_dev.gql(LAUNCH_RUN, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def _status(dagster_dev: DagsterDev, run_id: str) -> str:
    return dagster_dev.gql(RUN_QUERY, {"runId": run_id})["runOrError"]["status"]


@pytest.mark.slow
def test_after_a_killed_writ_run_a_run_launched_in_the_ui_starts_within_a_minute(dagster_dev: DagsterDev) -> None:
    """Issue 12.3: a SIGKILLed `writ run` leaves its Dagster run STARTED; with one run at a time the
    queue would wait on it for ever. The `writ_orphaned_runs` sensor of the running webserver marks it
    failed, and a run launched over GraphQL afterwards starts within a minute."""
    selector = _selector(dagster_dev)
    writ = subprocess.Popen(
        [sys.executable, "-m", "writ_dagster.cli", "run", "--domain", "airline", "--batch", "b0001",
         "--tasks-per-batch", "6", "--variants", "6", "--workers", "1", "--max-concurrency", "1",
         "--until", "trajectories", "-v"],
        env=dagster_dev.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    progress = re.compile(r"airline/b0001: stored (\d+)/(\d+) trajectories")
    try:
        for line in writ.stderr:  # type: ignore[union-attr]
            match = progress.search(line)
            if match and 0 < int(match[1]) < int(match[2]):
                os.killpg(writ.pid, signal.SIGKILL)
                break
    finally:
        if writ.poll() is None:
            os.killpg(writ.pid, signal.SIGKILL)
        writ.wait()
    assert writ.returncode == -signal.SIGKILL, "the run ended before it could be killed mid-partition"
    [killed] = dagster_dev.gql(RUNS_QUERY, {"statuses": ["STARTED"]})["runsOrError"]["results"]
    assert {"key": "dagster/partition", "value": "b0001|airline"} in killed["tags"]

    run_id = _launch(dagster_dev, selector, "b0002|airline")
    launched = time.monotonic()
    status = _status(dagster_dev, run_id)
    while status in ("QUEUED", "NOT_STARTED") and time.monotonic() - launched < 60:
        time.sleep(1.0)
        status = _status(dagster_dev, run_id)
    assert status not in ("QUEUED", "NOT_STARTED"), f"still {status} a minute after launch\n{dagster_dev.log_tail()}"
    assert _status(dagster_dev, killed["runId"]) == "FAILURE"
    while status not in ("SUCCESS", "FAILURE", "CANCELED") and time.monotonic() - launched < RUN_TIMEOUT_S:
        time.sleep(1.0)
        status = _status(dagster_dev, run_id)
    assert status == "SUCCESS", dagster_dev.log_tail()
