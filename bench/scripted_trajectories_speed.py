"""Scripted trajectory throughput: oracle agent + scripted user, scored, on worker processes.

Synthesizes tasks for each domain, builds user scripts, and simulates every (task, script)
conversation with the scripted backends (no model) on ``--workers`` processes, each
conversation scored with the fast Verifier — trajectories per second is the figure. The
baseline, measured in the same run: the same conversations re-scored with tau2's own
``evaluate_simulation`` (on a sample, time per trajectory extrapolated), i.e. what the
pipeline would cost per trajectory if scoring went through tau2. Rewards must agree.
Figures are printed last.

    python bench/scripted_trajectories_speed.py [--tasks 100] [--variants 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter

from tau2.data_model.simulation import TerminationReason
from tau2.data_model.tasks import Task
from tau2.evaluator.evaluator import EvaluationType, evaluate_simulation

from writ_dagster.core.domains.verify import simulation_run
from writ_dagster.core.simulation import Job, OracleAgent, ScriptedUser, SimulationConfig
from writ_dagster.core.simulation.parallel import run_parallel
from writ_dagster.core.tasks.models import SynthesisConfig
from writ_dagster.core.tasks.synthesis import Synthesizer
from writ_dagster.core.users import make_scripts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--domains", default="airline,retail")
    ap.add_argument("--tasks", type=int, default=100, help="tasks per domain")
    ap.add_argument("--variants", type=int, default=3, help="user scripts per task (variant 0 included)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tau2-sample", type=int, default=20, help="conversations re-scored with tau2 per domain")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()

    jobs: list[Job] = []
    tasks: dict[str, Task] = {}
    t0 = time.perf_counter()
    for domain in args.domains.split(","):
        batch = Synthesizer(domain, SynthesisConfig(tasks_per_batch=args.tasks)).synthesize("bench")
        for rec in batch.tasks:
            tasks[rec.task_id] = Task.model_validate(rec.task)
            jobs += [Job(rec, s, seed=args.seed) for s in make_scripts(rec, args.variants, args.seed)]
    t_prep = time.perf_counter() - t0
    print(f"{len(tasks)} tasks, {len(jobs)} conversations ({args.variants} scripts per task); "
          f"tasks + scripts built in {t_prep:.1f} s", flush=True)

    t0 = time.perf_counter()
    records = list(run_parallel(jobs, OracleAgent, ScriptedUser, SimulationConfig(), workers=args.workers))
    t_sim = time.perf_counter() - t0

    by_domain: dict[str, Counter] = {}
    for r in records:
        by_domain.setdefault(r.domain, Counter())[r.reward == 1.0] += 1
    rng = random.Random(args.seed)
    sample = []
    for domain in by_domain:
        mine = [r for r in records if r.domain == domain]
        sample += rng.sample(mine, min(args.tau2_sample, len(mine)))
    t0 = time.perf_counter()
    disagree = 0
    for r in sample:
        task = tasks[r.task_id]
        run = simulation_run(task, r.tau2_messages(), termination=TerminationReason(r.termination_reason))
        reward = evaluate_simulation(run, task, EvaluationType.ALL, False, r.domain).reward
        disagree += reward != r.reward
    t_tau2_each = (time.perf_counter() - t0) / max(1, len(sample))

    for domain, c in sorted(by_domain.items()):
        n = sum(c.values())
        print(f"  {domain:8s} conversations={n:5d} reward 1.0: {c[True]:5d} ({100 * c[True] / n:.1f}%)")
    n = len(records)
    rate = n / t_sim
    sim_each = t_sim * args.workers / n  # process-seconds per conversation, verifier scoring included
    baseline_rate = args.workers / (sim_each + t_tau2_each)
    print(f"tau2 evaluator agreement on {len(sample)} re-scored conversations: {len(sample) - disagree}/{len(sample)}")
    print(f"baseline (same simulation, scored by tau2's evaluate_simulation): {baseline_rate:8.1f} trajectories/s "
          f"({1000 * t_tau2_each:.0f} ms per tau2 score)")
    print(f"scripted trajectories on {args.workers} workers, fast verifier:     {rate:8.1f} trajectories/s "
          f"({n} in {t_sim:.1f} s)")
    print(f"ratio to baseline: {rate / baseline_rate:.1f}x (target >= 20 trajectories/s)")
    return 0 if disagree == 0 and rate >= 20 else 1


if __name__ == "__main__":
    sys.exit(main())
