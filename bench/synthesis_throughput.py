"""Synthesis throughput: verified tasks per second per domain, on the machine's cores.

Each domain's N tasks are split into one batch per worker process (default 2, the CI
machine's cores), as separate batch partitions would be. The baseline, measured in the
same run on a small sample, is the same synthesis verified the slow way: every task's
gold trajectory scored by tau2's own ``evaluate_simulation``. Figures are printed last.

    python bench/synthesis_throughput.py [--tasks 1000] [--workers 2] [--sample 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from writ_dagster.core.tasks.models import SynthesisConfig
from writ_dagster.core.tasks.synthesis import Synthesizer, closing_message


def _batch(job: tuple[str, str, int]) -> tuple[int, int, float]:
    domain, key, n = job
    t0 = time.perf_counter()
    result = Synthesizer(domain, SynthesisConfig(tasks_per_batch=n)).synthesize(key)
    return len(result.tasks), result.attempts, time.perf_counter() - t0


def _tau2_verified_rate(domain: str, sample: int) -> float:
    """Tasks/s when every synthesized task is also scored by tau2's evaluator (the slow way)."""
    from tau2.data_model.tasks import Task
    from tau2.evaluator.evaluator import EvaluationType, evaluate_simulation

    from writ_dagster.core.domains.verify import gold_messages, simulation_run

    t0 = time.perf_counter()
    synth = Synthesizer(domain, SynthesisConfig(tasks_per_batch=sample))
    result = synth.synthesize("baseline")
    for rec in result.tasks:
        task = Task.model_validate(rec.task)
        run = synth.verifier.execute([(s.name, s.arguments) for s in rec.gold_actions], track_changes=False)
        msgs = gold_messages(task, run, "hello", closing_message(task))
        assert evaluate_simulation(simulation_run(task, msgs), task, EvaluationType.ALL, False, domain).reward == 1.0
    return len(result.tasks) / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sample", type=int, default=20, help="tasks for the tau2-verified baseline")
    ap.add_argument("--domains", nargs="+", default=["airline", "retail"])
    args = ap.parse_args()
    lines = []
    for domain in args.domains:
        per = [args.tasks // args.workers + (1 if i < args.tasks % args.workers else 0) for i in range(args.workers)]
        t0 = time.perf_counter()
        with ProcessPoolExecutor(args.workers) as pool:
            out = list(pool.map(_batch, [(domain, f"tp{i:03d}", n) for i, n in enumerate(per)]))
        wall = time.perf_counter() - t0
        tasks = sum(o[0] for o in out)
        attempts = sum(o[1] for o in out)
        base = _tau2_verified_rate(domain, args.sample)
        rate = tasks / wall
        lines.append(f"{domain:8s} {tasks} verified tasks ({attempts} attempts) in {wall:6.1f} s on {args.workers} "
                     f"workers = {rate:6.1f} tasks/s (target: 1000 in <= 60 s); tau2-verified baseline "
                     f"{base:5.2f} tasks/s; ratio {rate / base:6.1f}x")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
