"""Run simulation jobs on several worker processes (for CPU-bound scripted backends).

Scripted conversations are pure Python, so one process is bound by the GIL; this spreads
chunks of jobs over ``workers`` processes and streams records back as chunks finish. LLM
backends do not need it: their time is spent in the model server, and one engine with many
conversations in flight keeps it busy.

The workers come from a ``forkserver``, not a plain ``fork`` of the caller: the caller (a Dagster
run, a test session) has threads of its own, and a fork copies whatever locks those threads hold
at that instant into a child where nobody will release them (a suite hung on one for 15 minutes).
The fork server is a fresh single-threaded process; each worker loads the domain DBs it needs once.
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Callable, Iterable, Iterator, Sequence

from writ_dagster.core.simulation.backends import Backend
from writ_dagster.core.simulation.engine import Job, SimulationEngine
from writ_dagster.core.simulation.records import SimulationConfig, TrajectoryRecord

BackendFactory = Callable[[], Backend]


def _run_chunk(args: tuple[Sequence[Job], BackendFactory, BackendFactory, SimulationConfig]) -> list[TrajectoryRecord]:
    jobs, agent_factory, user_factory, config = args
    return SimulationEngine(agent_factory(), user_factory(), config).run_all(jobs)


def run_parallel(
    jobs: Iterable[Job],
    agent_factory: BackendFactory,
    user_factory: BackendFactory,
    config: SimulationConfig | None = None,
    workers: int = 2,
    chunk_size: int = 32,
) -> Iterator[TrajectoryRecord]:
    """Simulate ``jobs`` on ``workers`` processes; yield records as their chunk finishes.

    Factories must be picklable (a class or a module-level function). With ``workers=1``
    everything runs in this process.
    """
    config = config or SimulationConfig()
    jobs = list(jobs)
    chunks = [jobs[i : i + chunk_size] for i in range(0, len(jobs), chunk_size)]
    if workers <= 1:
        for chunk in chunks:
            yield from _run_chunk((chunk, agent_factory, user_factory, config))
        return
    ctx = mp.get_context("forkserver")
    # Import the simulation code once in the fork server, not again in every worker.
    ctx.set_forkserver_preload([__name__])
    with ctx.Pool(workers) as pool:
        for records in pool.imap_unordered(_run_chunk, [(c, agent_factory, user_factory, config) for c in chunks]):
            yield from records
