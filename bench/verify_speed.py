"""Verification speed: the project's fork-based verifier against tau2's own evaluator.

For N synthesized airline tasks, the candidate plans are every gold plan plus deliberately
broken variants (wrong ids, failing payments, altered arguments, dropped writes). Each
candidate becomes a trajectory; both engines score it, in this process, one after the
other: tau2's ``evaluate_simulation`` (a freshly loaded environment per replay and full DB
hashes) and ``Verifier.score`` (copy-on-write forks of one loaded DB, touched entities
compared). Verdicts must be identical. Figures are printed last.

    python bench/verify_speed.py [--tasks 500] [--broken 150] [--domain airline]
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from tau2.data_model.tasks import Task
from tau2.evaluator.evaluator import EvaluationType, evaluate_simulation

from writ_dagster.core.domains.verify import Verifier, gold_messages, simulation_run
from writ_dagster.core.tasks.models import SynthesisConfig
from writ_dagster.core.tasks.mutations import MUTATIONS, mutate
from writ_dagster.core.tasks.synthesis import Synthesizer, closing_message


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--domain", default="airline")
    ap.add_argument("--tasks", type=int, default=500, help="gold plans (one per task)")
    ap.add_argument("--broken", type=int, default=150, help="broken plans added to the set")
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()

    synth = Synthesizer(args.domain, SynthesisConfig(tasks_per_batch=args.tasks))
    batch = synth.synthesize("bench")
    rng = random.Random(args.seed)
    candidates = []
    for rec in batch.tasks:
        candidates.append((rec, rec.gold_actions, "gold"))
    made = 0
    while made < args.broken:
        rec = rng.choice(batch.tasks)
        kind = MUTATIONS[made % len(MUTATIONS)]
        plan = mutate(rec.gold_actions, kind, rng)
        if plan is not None:
            candidates.append((rec, plan, kind))
            made += 1
    cases = []
    for rec, plan, kind in candidates:
        task = Task.model_validate(rec.task)
        run = synth.verifier.execute([(s.name, s.arguments) for s in plan], track_changes=False)
        cases.append((task, gold_messages(task, run, "hello", closing_message(task)), kind))
    print(f"{len(batch.tasks)} {args.domain} tasks, {len(cases)} candidate plans "
          f"({made} broken: {', '.join(MUTATIONS)})", flush=True)

    fresh = Verifier(synth.domain)  # empty gold cache: every task's gold replay is paid once
    t0 = time.perf_counter()
    ours = [fresh.score(task, msgs) for task, msgs, _ in cases]
    t_ours = time.perf_counter() - t0

    theirs = []
    t0 = time.perf_counter()
    for i, (task, msgs, _) in enumerate(cases):
        theirs.append(evaluate_simulation(simulation_run(task, msgs), task, EvaluationType.ALL, False,
                                          args.domain).reward)
        if i and i % 100 == 0:
            print(f"  tau2 evaluator: {i}/{len(cases)} ({time.perf_counter() - t0:.0f} s)", flush=True)
    t_tau2 = time.perf_counter() - t0

    disagree = [(c[0].id, c[2], a, b) for c, a, b in zip(cases, ours, theirs) if a != b]
    by_kind: dict[str, list[float]] = {}
    for (_, _, kind), v in zip(cases, ours):
        by_kind.setdefault(kind, []).append(v)
    for kind, vs in sorted(by_kind.items()):
        print(f"  {kind:17s} plans={len(vs):4d} passed={int(sum(vs)):4d}")
    for d in disagree[:10]:
        print("  DISAGREE", d)
    n = len(cases)
    print(f"tau2 evaluate_simulation: {t_tau2:8.2f} s  ({1000 * t_tau2 / n:7.2f} ms/plan)")
    print(f"writ Verifier.score:      {t_ours:8.2f} s  ({1000 * t_ours / n:7.2f} ms/plan)")
    print(f"identical verdicts: {n - len(disagree)}/{n}")
    print(f"speedup: {t_tau2 / t_ours:.1f}x (target >= 100x)")
    return 0 if not disagree else 1


if __name__ == "__main__":
    sys.exit(main())
