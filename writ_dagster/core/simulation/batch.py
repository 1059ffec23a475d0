"""One call from stored tasks to scored trajectories, resumable by trajectory id.

Trajectory ids are a pure function of (task, script, seed), so a caller that stores
records as they stream out can resume after a crash by passing the ids it already has:
those jobs are skipped and nothing is simulated twice.
"""

from __future__ import annotations

from typing import Callable, Collection, Iterable, Iterator

from writ_dagster.core.simulation.backends import Backend
from writ_dagster.core.simulation.engine import Job, OnFinish, SimulationEngine
from writ_dagster.core.simulation.oracle import OracleAgent
from writ_dagster.core.simulation.parallel import run_parallel
from writ_dagster.core.simulation.records import SimulationConfig, TrajectoryRecord
from writ_dagster.core.simulation.scripted_user import ScriptedUser
from writ_dagster.core.tasks.models import TaskRecord
from writ_dagster.core.users.scripts import make_scripts


def plan_jobs(records: Iterable[TaskRecord], n_variants: int, seed: int,
              done: Collection[str] = ()) -> list[Job]:
    """A job per (task, user script), minus those whose trajectory id is in ``done``."""
    jobs = [Job(rec, script, seed=seed) for rec in records for script in make_scripts(rec, n_variants, seed)]
    return [job for job in jobs if job.trajectory_id not in done]


def simulate(records: Iterable[TaskRecord], n_variants: int, seed: int, *,
             agent_factory: Callable[[], Backend] = OracleAgent, user_factory: Callable[[], Backend] = ScriptedUser,
             config: SimulationConfig | None = None, workers: int = 1, done: Collection[str] = (),
             on_finish: OnFinish | None = None) -> Iterator[TrajectoryRecord]:
    """Simulate every (task, script) not yet ``done``; yield records as conversations end.

    The defaults are the scripted backends (no model). With ``workers > 1`` chunks run on
    forked processes and ``on_finish`` is called here, as each chunk's records arrive.
    """
    jobs = plan_jobs(records, n_variants, seed, done)
    if workers > 1:
        stream = run_parallel(jobs, agent_factory, user_factory, config, workers=workers)
    else:
        stream = SimulationEngine(agent_factory(), user_factory(), config).run(jobs)
    for record in stream:
        if on_finish is not None:
            on_finish(record)
        yield record
