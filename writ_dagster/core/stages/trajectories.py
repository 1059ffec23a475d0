"""Stage ``trajectories``: a partition's stored tasks and user scripts -> scored conversations.

Resumable: every finished conversation is stored at once (its own transaction), and a run
first keeps the stored rows that the plan still wants unchanged (same trajectory id and
resume key), deletes the rest, and simulates only what is missing. A run killed at any
point and started again therefore ends with exactly the planned rows, each as an
uninterrupted run would have written it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb

from writ_dagster.core.simulation.backends import model_info
from writ_dagster.core.simulation.batch import is_batched, jobs_for_scripts, simulate_jobs
from writ_dagster.core.simulation.engine import Job
from writ_dagster.core.simulation.quality import rows_quality
from writ_dagster.core.simulation.records import TrajectoryRecord, resume_key
from writ_dagster.core.simulation.registry import backend_factory
from writ_dagster.core.simulation.settings import TrajectoryConfig
from writ_dagster.core.simulation.summary import SUMMARY_COLUMNS, summarize_trajectories
from writ_dagster.core.stages import MissingInputError
from writ_dagster.core.storage.runs import StageRun, read_partition_run, read_stage_run
from writ_dagster.core.storage.scripts import read_user_scripts
from writ_dagster.core.storage.tasks import read_tasks
from writ_dagster.core.storage.trajectories import (
    finish_trajectories,
    insert_trajectory,
    prune_trajectories,
    read_trajectories,
    stored_resume_keys,
    trajectories_frame,
)
from writ_dagster.core.versioning import code_version, tau2_version

OnStored = Callable[[TrajectoryRecord, int, int], None]  # (record, rows stored so far, rows planned)
BackendFactory = Callable[[], Any]


@dataclass
class TrajectoryRun:
    """What one run of the stage did to a partition."""

    run: StageRun
    planned: int
    kept: int
    simulated: int
    pruned: int
    figures: dict[str, Any]


def plan(con: duckdb.DuckDBPyConnection, domain: str, partition: str, seed: int) -> list[Job]:
    """One job per stored user script of the partition (raises if scripts or tasks are missing)."""
    scripts_run = read_stage_run(con, "user_scripts", domain, partition)
    if scripts_run is None:
        raise MissingInputError(f"user scripts of {domain}/{partition} are not stored; "
                                "materialize `user_scripts` first")
    tasks_run = read_partition_run(con, domain, partition)
    made_from = json.loads(scripts_run.figures_json).get("tasks_digest")
    if tasks_run is None or made_from != tasks_run.content_digest:
        raise MissingInputError(f"user scripts of {domain}/{partition} were made from other tasks than those "
                                "stored now; materialize `user_scripts` again first")
    return jobs_for_scripts(read_tasks(con, domain, partition), read_user_scripts(con, domain, partition), seed)


def partition_quality(con: duckdb.DuckDBPyConnection, domain: str, partition: str) -> dict[str, Any]:
    """Language variety and evidence figures of a partition's stored conversations (see ``quality``)."""
    tasks = {t.task_id: t for t in read_tasks(con, domain, partition)}
    return rows_quality(read_trajectories(con, domain, partition), tasks)


def run_trajectories(con: duckdb.DuckDBPyConnection, domain: str, partition: str, config: TrajectoryConfig,
                     on_stored: OnStored | None = None, agent_factory: BackendFactory | None = None,
                     user_factory: BackendFactory | None = None) -> TrajectoryRun:
    """Simulate the partition's missing trajectories, storing each as it finishes; see the module doc.

    ``agent_factory``/``user_factory`` supply a role's backend from outside (a model served for the
    run); otherwise the backend named in ``config`` is built from the registry.
    """
    jobs = plan(con, domain, partition, config.seed)
    engine = config.engine_config()
    supplied = agent_factory is not None or user_factory is not None
    agent_factory = agent_factory or backend_factory(config.agent_backend, "agent", config.agent_options)
    user_factory = user_factory or backend_factory(config.user_backend, "user", config.user_options)
    agent, user = agent_factory(), user_factory()
    agent_info, user_info = model_info(agent), model_info(user)
    planned = {job.trajectory_id: resume_key(job.record.content_hash, job.script.content_hash, job.seed,
                                             agent_info, user_info, engine.content_hash()) for job in jobs}
    done, pruned = prune_trajectories(con, domain, partition, planned if config.resume else {})
    todo = [job for job in jobs if job.trajectory_id not in done]
    stored = len(done)

    def store(record: TrajectoryRecord) -> None:
        nonlocal stored
        if planned.get(record.trajectory_id) != record.resume_key():
            raise RuntimeError(f"trajectory {record.trajectory_id} does not match its plan "
                               "(a backend changed its name or sampling during the run?)")
        stored += insert_trajectory(con, record)
        if on_stored is not None:
            on_stored(record, stored, len(planned))

    # Worker processes only help CPU-bound batched backends; async ones run here, concurrently.
    # A supplied backend lives in this process (a server client, an engine): no worker processes.
    workers = config.workers if is_batched(agent) and is_batched(user) and not supplied else 1
    # One process: reuse the instances made above; several: each worker builds its own.
    factories = (agent_factory, user_factory) if workers > 1 else (lambda: agent, lambda: user)
    for _ in simulate_jobs(todo, agent_factory=factories[0], user_factory=factories[1], config=engine,
                           workers=workers, on_finish=store):
        pass

    now = stored_resume_keys(con, domain, partition)
    if now != planned:
        missing, extra = len(set(planned) - set(now)), len(set(now) - set(planned))
        raise RuntimeError(f"{domain}/{partition}: stored trajectories differ from the plan "
                           f"({missing} missing, {extra} unplanned)")
    figures = summarize_trajectories(trajectories_frame(con, domain, partition, SUMMARY_COLUMNS))
    figures["quality"] = partition_quality(con, domain, partition)
    run = finish_trajectories(con, domain, partition, config.public_json(), config.content_hash(), code_version(),
                              tau2_version(), figures)
    return TrajectoryRun(run=run, planned=len(planned), kept=len(done), simulated=len(todo), pruned=pruned,
                         figures=figures)
