"""How close the simulated fleet's teacher comes to its configured pass rate, and what it costs.

Plays every stored (task, script) of a WRIT home through the real conversation engine and the
real OpenAI-compatible client against ``writ-simulated-fleet`` (both roles), scores each
conversation with the project's τ² verifier, and prints, per configured pass rate: the measured
pass rate (with its binomial standard error), errors injected by kind, requests answered,
and the fleet process's CPU per request (so: requests per CPU-second it can serve).

    python bench/fleet_pass_rate.py --home WRIT_HOME [--rates 1.0 0.6 0.3] [--attempts 1]

Needs a home with tasks and user scripts (`writ run --until trajectories` makes one). The
fleet is a simulation: its figures say nothing about a real model.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from dataclasses import replace
from pathlib import Path

from writ_dagster.core.domains.registry import domain_names
from writ_dagster.core.home import DB_FILENAME
from writ_dagster.core.llm.openai_client import OpenAICompatibleBackend, RetryPolicy
from writ_dagster.core.llm.sampling import Sampling
from writ_dagster.core.simulation.attempts import attempt_seed
from writ_dagster.core.simulation.batch import jobs_for_scripts
from writ_dagster.core.simulation.engine import Job, SimulationEngine
from writ_dagster.core.simulation.records import SimulationConfig
from writ_dagster.core.simulation.settings import DEFAULT_SEED
from writ_dagster.core.storage.schema import connect
from writ_dagster.core.storage.scripts import read_user_scripts
from writ_dagster.core.storage.tasks import read_tasks
from writ_dagster.rehearsal.config import TEACHER_MODEL, USER_MODEL
from writ_dagster.rehearsal.fleet import start_fleet


def jobs_of(home: Path, attempts: int) -> list[Job]:
    """Every stored (task, script) of ``home``, once per attempt (with the pipeline's attempt seeds)."""
    jobs: list[Job] = []
    with connect(home / DB_FILENAME, read_only=True) as con:
        for domain in domain_names():
            base = jobs_for_scripts(read_tasks(con, domain), read_user_scripts(con, domain), DEFAULT_SEED)
            jobs += [replace(j, seed=attempt_seed(j.seed, k), attempt=k) for j in base for k in range(attempts)]
    return jobs


async def play(urls: list[str], jobs: list[Job], concurrency: int) -> list:
    """The records of ``jobs`` played against the fleet at ``urls``."""
    retry = RetryPolicy(max_retries=4, backoff_s=0.05, timeout_s=30.0)
    agent = OpenAICompatibleBackend(urls, TEACHER_MODEL, sampling=Sampling(max_tokens=4096), retry=retry)
    user = OpenAICompatibleBackend(urls, USER_MODEL, sampling=Sampling(max_tokens=1024), retry=retry)
    engine = SimulationEngine(agent, user, SimulationConfig(max_concurrency=concurrency))
    out = [r async for r in engine.arun(jobs)]
    await agent.aclose()
    await user.aclose()
    return out


def main() -> None:
    """Measure and print, one line per configured pass rate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--rates", type=float, nargs="+", default=[1.0, 0.6, 0.3])
    parser.add_argument("--attempts", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--replicas", type=int, default=2)
    args = parser.parse_args()
    jobs = jobs_of(args.home, args.attempts)
    print(f"{len(jobs)} conversations per rate ({args.attempts} attempt(s) per stored script)")
    for rate in args.rates:
        config = {"replica_count": args.replicas, "time_scale": 0.0, "teacher": {"pass_rate": rate}}
        with start_fleet(args.home, config) as fleet:
            started = time.perf_counter()
            records = asyncio.run(play(fleet.base_urls, jobs, args.concurrency))
            wall = time.perf_counter() - started
            stats = fleet.stats()["fleet"]
        n = len(records)
        passed = sum(r.reward >= 1.0 for r in records) / n
        se = math.sqrt(passed * (1 - passed) / n)
        errors = {k.split(":", 1)[1]: v for k, v in stats["counters"].items() if k.startswith("error:")}
        by_type: dict[str, list[float]] = {}
        for r in records:
            by_type.setdefault(r.trajectory_type, []).append(r.reward)
        for r in records:
            by_type.setdefault(r.domain, []).append(r.reward)
        types = ", ".join(f"{t} {sum(v) / len(v):.2f} (n={len(v)})" for t, v in sorted(by_type.items()))
        cpu_ms = stats["cpu_ms_per_answer"]
        print(f"pass_rate {rate:.2f}: measured {passed:.3f} ± {se:.3f} over {n}; errors {errors}; by domain and type: {types}; "
              f"{stats['answered']} requests in {wall:.1f}s; fleet CPU {cpu_ms:.2f} ms/request "
              f"(~{1000 / cpu_ms:.0f} requests per CPU-second)")


if __name__ == "__main__":
    main()
