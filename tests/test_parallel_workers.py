"""Worker processes for scripted simulation never inherit a lock held by another thread of the caller."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from writ_testing import SMALL, small_airline_batches

from writ_dagster.core.simulation.oracle import OracleAgent
from writ_dagster.core.simulation.parallel import run_parallel
from writ_dagster.core.simulation.scripted_user import ScriptedUser
from writ_dagster.core.simulation.settings import TrajectoryConfig
from writ_dagster.core.stages.trajectories import plan
from writ_dagster.core.stages.user_scripts import run_user_scripts
from writ_dagster.core.storage.schema import connect
from writ_dagster.core.storage.tasks import write_partition

# Taken by the agent factory in the worker; in the caller a thread holds it while the workers start,
# as a Dagster run's or a test session's threads hold their locks at unpredictable moments.
_SHARED = threading.Lock()


class LockTakingAgent(OracleAgent):
    """The oracle agent, built only once the module-level lock can be taken (as a library's init would)."""

    def __init__(self) -> None:
        with _SHARED:
            super().__init__()


@pytest.mark.timeout(120)
def test_workers_start_while_a_caller_thread_holds_a_lock(tmp_path: Path) -> None:
    with connect(tmp_path / "w.duckdb") as con:
        batch = small_airline_batches()["b0000"]
        write_partition(con, batch.model_copy(update={"tasks": batch.tasks[:4]}), SMALL)
        run_user_scripts(con, "airline", "b0000", TrajectoryConfig(variants=2))
        jobs = plan(con, "airline", "b0000", 0)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with _SHARED:
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    held.wait(10)
    try:
        # A plain fork would copy _SHARED in its held state into each worker, where nothing releases it.
        records = list(run_parallel(jobs, LockTakingAgent, ScriptedUser, workers=2, chunk_size=2))
    finally:
        release.set()
        holder.join(10)
    assert sorted(r.trajectory_id for r in records) == sorted(j.trajectory_id for j in jobs)
    assert all(r.reward == 1.0 for r in records)
