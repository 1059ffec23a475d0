"""One call from stored tasks to scored trajectories, resumable by trajectory id.

Trajectory ids are a pure function of (task, script, seed), so a caller that stores
records as they stream out can resume after a crash by passing the ids it already has:
those jobs are skipped and nothing is simulated twice.
"""

from __future__ import annotations

import asyncio
from typing import AsyncGenerator, Callable, Collection, Iterable, Iterator, Sequence

from writ_dagster.core.simulation.backends import AsyncBackend, Backend
from writ_dagster.core.simulation.engine import FollowUp, Job, OnFinish, SimulationEngine
from writ_dagster.core.simulation.oracle import OracleAgent
from writ_dagster.core.simulation.parallel import run_parallel
from writ_dagster.core.simulation.records import SimulationConfig, TrajectoryRecord
from writ_dagster.core.simulation.scripted_user import ScriptedUser
from writ_dagster.core.tasks.models import TaskRecord
from writ_dagster.core.users.models import UserScript
from writ_dagster.core.users.scripts import make_scripts

BackendFactory = Callable[[], Backend | AsyncBackend]


def plan_jobs(records: Iterable[TaskRecord], n_variants: int, seed: int, done: Collection[str] = ()) -> list[Job]:
    """A job per (task, user script), minus those whose trajectory id is in ``done``."""
    jobs = [Job(rec, script, seed=seed) for rec in records for script in make_scripts(rec, n_variants, seed)]
    return [job for job in jobs if job.trajectory_id not in done]


def jobs_for_scripts(records: Iterable[TaskRecord], scripts: Iterable[UserScript], seed: int) -> list[Job]:
    """A job per stored script, in task order then variant order.

    Raises ``ValueError`` for a script whose task is not among ``records`` (stale scripts).
    """
    by_id = {r.task_id: r for r in records}
    order = {tid: i for i, tid in enumerate(by_id)}
    jobs = []
    for script in sorted(scripts, key=lambda s: (order.get(s.task_id, len(order)), s.variant)):
        record = by_id.get(script.task_id)
        if record is None:
            raise ValueError(f"user script {script.script_id} belongs to task {script.task_id}, which is not stored")
        jobs.append(Job(record, script, seed=seed))
    return jobs


def simulate(
    records: Iterable[TaskRecord],
    n_variants: int,
    seed: int,
    *,
    agent_factory: BackendFactory = OracleAgent,
    user_factory: BackendFactory = ScriptedUser,
    config: SimulationConfig | None = None,
    workers: int = 1,
    done: Collection[str] = (),
    on_finish: OnFinish | None = None,
) -> Iterator[TrajectoryRecord]:
    """Simulate every (task, script) not yet ``done``; yield records as conversations end.

    The defaults are the scripted backends (no model). With ``workers > 1`` chunks run on
    forked processes and ``on_finish`` is called here, as each chunk's records arrive.
    """
    jobs = plan_jobs(records, n_variants, seed, done)
    return simulate_jobs(
        jobs,
        agent_factory=agent_factory,
        user_factory=user_factory,
        config=config,
        workers=workers,
        on_finish=on_finish,
    )


def simulate_jobs(
    jobs: Sequence[Job],
    *,
    agent_factory: BackendFactory = OracleAgent,
    user_factory: BackendFactory = ScriptedUser,
    config: SimulationConfig | None = None,
    workers: int = 1,
    chunk_size: int = 8,
    on_finish: OnFinish | None = None,
    follow: FollowUp | None = None,
) -> Iterator[TrajectoryRecord]:
    """Simulate ``jobs``; call ``on_finish`` and yield each record as its conversation ends.

    ``follow`` (one process only; ignored with workers) names the job to run next in a finished
    conversation's slot, so further attempts share the pool with first ones.

    Batched backends run in lockstep (on ``workers`` processes if more than one); if either
    backend is async (``respond`` coroutine, no ``respond_batch``) the engine's async driver
    runs instead, with up to ``max_concurrency`` conversations in flight.
    """
    if not jobs:
        return
    if workers > 1:
        stream = run_parallel(
            jobs,
            agent_factory,  # type: ignore[arg-type]  # batched ones only
            user_factory,  # type: ignore[arg-type]  # batched ones only
            config,
            workers=workers,
            chunk_size=chunk_size,
        )
    else:
        agent, user = agent_factory(), user_factory()
        engine = SimulationEngine(agent, user, config)
        if is_batched(agent) and is_batched(user):
            stream = engine.run(jobs, follow=follow)
        else:
            stream = _drain(engine.arun(jobs, follow=follow))
    for record in stream:
        if on_finish is not None:
            on_finish(record)
        yield record


def is_batched(backend: object) -> bool:
    """Whether a backend answers many conversations per call (``respond_batch``)."""
    return callable(getattr(backend, "respond_batch", None))


def _drain(agen: AsyncGenerator[TrajectoryRecord, None]) -> Iterator[TrajectoryRecord]:
    """Iterate an async generator from synchronous code, one record at a time."""
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                yield loop.run_until_complete(agen.__anext__())
            except StopAsyncIteration:
                return
    finally:
        loop.run_until_complete(agen.aclose())
        loop.close()
