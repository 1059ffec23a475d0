"""The preset's evaluation protocol rehearsed against writ-simulated-fleet (a SIMULATION: no model runs).

Loads the evaluation settings the way ``writ run`` does (``--config`` layers merged in order, then
``--set``; validated by the ``EvaluationSettings`` resource), by default ``configs/writ-2k.yaml``
with ``configs/rehearsal/evaluation-on-fleet.yaml`` on top: every airline base task × 4 trials,
max_steps 200, max_errors 10, through τ²'s own harness, the fleet as the evaluated model and the
user simulator. Starts its own fleet (``configs/rehearsal/fleet.yaml``, free ports: the layer's
fixed ports are replaced by the fleet's) unless ``--running-fleet`` says one already listens there.

    python bench/evaluation_rehearsal.py [--pass-rate 0.6] [--set evaluation.num_trials=2] [--running-fleet]

Prints its figures last: pass^1..k against the configured pass rate (with the binomial standard
error of a pass^1 over that many conversations), errors, the τ² version the results name, the
wall time, and what the fleet answered.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_LAYERS = [str(ROOT / "configs/writ-2k.yaml"), str(ROOT / "configs/rehearsal/evaluation-on-fleet.yaml")]


def main(argv: list[str] | None = None) -> int:
    """Run the rehearsal and print its figures (exit 1 if any conversation errored)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", default=None, help="config layers (default: the preset and "
                                                                         "evaluation-on-fleet.yaml)")
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE over the layers, as `writ run --set`")
    parser.add_argument("--fleet-config", default=str(ROOT / "configs/rehearsal/fleet.yaml"))
    parser.add_argument("--pass-rate", type=float, default=None, help="the fleet's teacher.pass_rate (default: "
                                                                      "the fleet config's)")
    parser.add_argument("--running-fleet", action="store_true", help="use the fleet the layers point at")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: a temporary one)")
    args = parser.parse_args(argv)

    from writ_dagster.cli.settings import evaluation_settings
    from writ_dagster.core.versioning import tau2_version
    from writ_dagster.rehearsal.config import load_fleet_config
    from writ_dagster.rehearsal.evaluation import point_at, rehearse_evaluation
    from writ_dagster.rehearsal.fleet import start_fleet

    layers = argparse.Namespace(config=args.config or DEFAULT_LAYERS, set=args.set)
    config = evaluation_settings(layers).eval_config()
    fleet_cfg = load_fleet_config(args.fleet_config)
    updates = {"port_base": None}
    if args.pass_rate is not None:
        updates["teacher"] = fleet_cfg.teacher.model_copy(update={"pass_rate": args.pass_rate})
    fleet_cfg = fleet_cfg.model_copy(update=updates)
    out = args.out or Path(tempfile.mkdtemp(prefix="evaluation-rehearsal-"))
    fleet = None
    with tempfile.TemporaryDirectory(prefix="evaluation-rehearsal-home-") as home:
        if not args.running_fleet:
            fleet = start_fleet(home, fleet_cfg)
            config = point_at(config, fleet.base_urls[0], fleet.base_urls[-1])
        try:
            started = time.perf_counter()
            run = rehearse_evaluation(config, out, log=lambda line: print(line, file=sys.stderr, flush=True))
            seconds = time.perf_counter() - started
            stats = fleet.stats() if fleet is not None else None
        finally:
            if fleet is not None:
                fleet.stop()

    from writ_dagster.core.tau2_adapter import Results

    p = fleet_cfg.teacher.pass_rate
    print("\n== evaluation rehearsal (writ-simulated-fleet: a simulation, no model ran) ==")
    print(f"layers: {' + '.join(Path(c).name for c in layers.config)}{' + --set ' + ' '.join(args.set) if args.set else ''}")
    worst = 0
    for s in run.scores:
        f = s.figures
        n = f.conversations_ran or 0
        se = math.sqrt(p * (1 - p) / n) if n else float("nan")
        info = Results.load(Path(s.results_path)).info
        pass_k = ", ".join(f"pass^{k} {v:.3f}" for k, v in sorted(f.pass_k.items()))
        print(f"{s.model_label}/{s.domain}: {f.n_tasks} tasks x {s.num_trials} trials, {n} of {f.n_simulations} "
              f"conversations ran, errors {f.errors}")
        print(f"  {pass_k}; mean reward {f.avg_reward:.3f}; termination {f.termination_reasons}")
        print(f"  configured pass rate {p:.2f}: pass^1 - p = {f.pass_k.get(1, 0.0) - p:+.3f} "
              f"(binomial s.e. {se:.3f} at {n} conversations)")
        print(f"  results {s.results_path}: tau2 named as {info.git_commit!r}; row tau2_version {s.tau2_version!r}")
        worst = max(worst, f.errors)
    print(f"tau2 installed: {tau2_version()}")
    if stats is not None:
        fl = stats["fleet"]
        print(f"fleet: {fl['answered']} answers, cpu {fl['cpu_s']:.1f}s, tau2 counters {json.dumps(fl['tau2'])}")
    total = sum(s.figures.n_simulations for s in run.scores)
    print(f"wall {seconds:.1f}s for {total} conversations ({total / seconds:.2f}/s, concurrency {config.concurrency})")
    return 1 if worst else 0


if __name__ == "__main__":
    sys.exit(main())
