"""Does the pipeline keep a GPU fleet busy at the preset's scale? Rehearsed against the simulated fleet.

No model runs: ``writ-simulated-fleet`` (``writ_dagster/rehearsal``) stands in for the teacher and
the user simulator, on ``--replicas`` OpenAI-compatible HTTP replicas of ``--capacity`` concurrent
sequences each, answering after a GPU-like latency (time to first token, prefill and decode
rates) and passing ``--pass-rate`` of its conversations under τ²'s scoring. The pipeline is
the real ``trajectories`` stage (``run_trajectories`` with the preset's attempts and
``keep_passing``, the teacher and user-simulator roles pointed at the fleet), run in a child
process of its own so that its CPU and memory are measured alone.

Steps, in one run:

1. synthesize ``--tasks`` tasks of ``--domain`` and their user scripts (``--variants``, as the preset);
2. baseline: the same conversations played in process by the scripted oracle and user (no HTTP),
   for the orchestrator's CPU per conversation without a server in the loop;
3. for each ``--in-flight`` level: a fresh copy of the database, a fresh fleet, the stage with
   ``max_concurrency`` = the level; the fleet's busy sequence-seconds are sampled every 0.5 s;
4. the same stage again on the finished partition (resume: nothing to replay), timed.

Figures, printed last, per level: conversations per second; the share of the fleet's capacity
kept busy (busy sequence-seconds over capacity × time, in the steady window: from 10 s after the
start until the last (task, script) chain opened its first conversation; after that the stage has
no new work to hand out and its slots empty as the longest chains, up to 4 attempts in a row,
finish; the whole-run share is printed beside it); orchestrator CPU-seconds per conversation and its ratio to the
in-process baseline; peak RSS of the stage's process; database bytes per 1,000 conversations;
time to resume. The goal for the capacity share is >= 0.9: the orchestrator must never be what
a GPU waits for.

    python bench/preset_rehearsal.py [--tasks 120 --in-flight 64 256 --replicas 4 --capacity 16]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

PARTITION = "b0000"
ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--domain", default="retail", choices=("airline", "retail"))
    parser.add_argument("--tasks", type=int, default=160, help="tasks synthesized (x variants = chains)")
    parser.add_argument("--variants", type=int, default=3, help="user scripts per task (the preset's 3)")
    parser.add_argument("--attempts", type=int, default=4, help="tries per (task, script) (the preset's 4)")
    parser.add_argument("--in-flight", type=int, nargs="+", default=[64, 256], help="max_concurrency levels")
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--capacity", type=int, default=16, help="concurrent sequences per replica")
    parser.add_argument("--pass-rate", type=float, default=0.6, help="the simulated teacher's pass rate")
    parser.add_argument("--time-scale", type=float, default=0.5, help="latency factor (1.0: GPU-like; 0.5 is a fast GPU)")
    parser.add_argument("--ttft", type=float, default=0.15, help="time to first token, s")
    parser.add_argument("--decode", type=float, default=40.0, help="decode tokens/s per sequence")
    parser.add_argument("--prefill", type=float, default=20000.0, help="prefill tokens/s per sequence")
    parser.add_argument("--child", nargs=3, metavar=("DB", "CONFIG_JSON", "OUT_JSON"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# -- the stage, in a child process ---------------------------------------------------------------
def child(db: str, config_json: str, out_json: str) -> None:
    """Run the trajectories stage on ``db`` with the settings in ``config_json``; write its figures."""
    import dagster as dg

    from writ_dagster.core.simulation.engine import SimulationEngine
    from writ_dagster.core.simulation.settings import TrajectoryConfig
    from writ_dagster.core.stages.trajectories import run_trajectories
    from writ_dagster.core.storage.schema import connect
    from writ_dagster.resources.roles import ModelRole, trajectory_backends

    # When each conversation opened: once the last chain's first attempt has opened, the pipeline has
    # no new work to start and its slots empty as chains end, so the steady window ends there.
    opened: list[tuple[float, int]] = []
    open_conversation = SimulationEngine.open

    def recording_open(self: SimulationEngine, job: Any) -> Any:
        opened.append((time.time(), job.attempt))
        return open_conversation(self, job)

    SimulationEngine.open = recording_open  # type: ignore[method-assign]
    spec = json.loads(Path(config_json).read_text())
    config = TrajectoryConfig(**spec["simulation"])
    agent_factory = user_factory = None
    with ExitStack() as stack, connect(db) as con:
        if spec.get("roles"):
            # the roles as a run sets them up (Dagster resources, outside a run here)
            teacher, user = (stack.enter_context(ModelRole(**spec["roles"][role]).yield_for_execution(
                dg.build_init_resource_context())) for role in ("teacher", "user_simulator"))
            config, agent_factory, user_factory = trajectory_backends(config, teacher, user)
        started, cpu0 = time.time(), time.process_time()
        result = run_trajectories(con, spec["domain"], PARTITION, config, agent_factory=agent_factory,
                                  user_factory=user_factory)
        ended, cpu1 = time.time(), time.process_time()
        con.execute("CHECKPOINT")
        passing = con.execute("SELECT count(*) FROM trajectories WHERE reward >= 1").fetchall()[0][0]
    Path(out_json).write_text(json.dumps({
        "simulated": result.simulated, "kept": result.kept, "planned": result.planned, "passing": passing,
        "started": started, "ended": ended, "cpu_s": cpu1 - cpu0,
        "last_chain_opened": max((t for t, attempt in opened if attempt == 0), default=ended),
        "infrastructure_failures": result.infrastructure_failures}))


def run_child(db: Path, spec: dict[str, Any], work: Path, name: str) -> dict[str, Any]:
    """The stage in a child process; its figures plus the child's peak RSS (from wait4)."""
    config, out = work / f"{name}.json", work / f"{name}.out.json"
    config.write_text(json.dumps(spec))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(db), str(config), str(out)], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{name}: the stage's process failed ({proc.returncode})")
    figures = json.loads(out.read_text())
    figures["peak_rss_mb"] = usage.ru_maxrss / 1024
    return figures


# -- the fleet's busy time, sampled ---------------------------------------------------------------
class BusySampler:
    """``(time, busy sequence-seconds summed over replicas)`` every ``every`` seconds."""

    def __init__(self, fleet: Any, every: float = 0.5) -> None:
        self.fleet, self.every = fleet, every
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            stats = self.fleet.stats()
            self.samples.append((time.time(), sum(r["busy_sequence_s"] for r in stats["replicas"])))
            self._stop.wait(self.every)

    def __enter__(self) -> "BusySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(10)

    def share(self, start: float, end: float, capacity: int) -> float:
        """Busy sequence-seconds between ``start`` and ``end`` over the capacity available then."""
        inside = [(t, b) for t, b in self.samples if start <= t <= end]
        if len(inside) < 2:
            return float("nan")
        (t0, b0), (t1, b1) = inside[0], inside[-1]
        return (b1 - b0) / (capacity * (t1 - t0))


def db_bytes(db: Path) -> int:
    wal = db.with_name(db.name + ".wal")
    return db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    from writ_dagster.core.simulation.settings import TrajectoryConfig
    from writ_dagster.core.stages.user_scripts import run_user_scripts
    from writ_dagster.core.storage.schema import connect
    from writ_dagster.core.storage.tasks import write_partition
    from writ_dagster.core.tasks.models import SynthesisConfig
    from writ_dagster.core.tasks.synthesis import Synthesizer
    from writ_dagster.rehearsal import start_fleet

    work = Path(tempfile.mkdtemp(prefix="writ-rehearsal-bench-"))
    try:
        base = work / "base" / "writ.duckdb"
        base.parent.mkdir()
        t = time.perf_counter()
        config = SynthesisConfig(tasks_per_batch=args.tasks)
        batch = Synthesizer(args.domain, config).synthesize(PARTITION)
        simulation = {"variants": args.variants, "attempts": args.attempts, "keep_passing": 1}
        with connect(base) as con:
            write_partition(con, batch, config)
            run_user_scripts(con, args.domain, PARTITION, TrajectoryConfig(**simulation))
            con.execute("CHECKPOINT")
        print(f"{args.domain}: {len(batch.tasks)} tasks x {args.variants} scripts synthesized in "
              f"{time.perf_counter() - t:.0f}s", flush=True)

        # Baseline: the scripted roles in process (they pass everything: one attempt per chain).
        shutil.copytree(base.parent, work / "scripted")
        scripted = run_child(work / "scripted" / "writ.duckdb", {"domain": args.domain, "simulation": {
            **simulation, "max_concurrency": 64}}, work, "scripted")
        base_cpu = scripted["cpu_s"] / scripted["simulated"]
        print(f"baseline (scripted roles in process): {scripted['simulated']} conversations, "
              f"{base_cpu * 1000:.1f} ms CPU each", flush=True)

        fleet_config = {
            "replica_count": args.replicas, "time_scale": args.time_scale,
            "replica": {"capacity": args.capacity, "latency": {"ttft_s": args.ttft, "decode_tokens_per_s": args.decode,
                                                               "prefill_tokens_per_s": args.prefill}},
            "teacher": {"pass_rate": args.pass_rate}}
        capacity = args.replicas * args.capacity
        results = []
        for level in args.in_flight:
            home = work / f"in-flight-{level}"
            shutil.copytree(base.parent, home)
            db = home / "writ.duckdb"
            before = db_bytes(db)
            with start_fleet(home, fleet_config, log=work / f"fleet-{level}.log") as fleet:
                spec = {"domain": args.domain, "simulation": {**simulation, "max_concurrency": level},
                        "roles": fleet.writ_roles()}
                with BusySampler(fleet) as sampler:
                    run = run_child(db, spec, work, f"run-{level}")
                final = fleet.stats()
                fleet_cpu = final["fleet"]["cpu_s"]
                queue_wait = sum(r["queue_wait_s"] for r in final["replicas"])
                answered = sum(r["answered"] for r in final["replicas"])
            wall = run["ended"] - run["started"]
            # steady: after a ramp-up of 10 s, until the last chain started (from then on slots empty)
            steady = sampler.share(run["started"] + 10, run["last_chain_opened"], capacity)
            whole = sampler.share(run["started"], run["ended"], capacity)
            with start_fleet(home, fleet_config, log=work / f"fleet-{level}.log") as fleet:
                resumed = run_child(db, {**spec, "roles": fleet.writ_roles()}, work, f"resume-{level}")
            grown = db_bytes(db) - before
            results.append({
                "in_flight": level, "conversations": run["simulated"], "passing": run["passing"],
                "wall_s": wall, "per_s": run["simulated"] / wall, "steady_share": steady, "whole_share": whole,
                "cpu_per_conv": run["cpu_s"] / run["simulated"], "fleet_cpu_s": fleet_cpu,
                "rss_mb": run["peak_rss_mb"], "db_per_1k": grown / run["simulated"] * 1000,
                "resume_s": resumed["ended"] - resumed["started"], "resume_replayed": resumed["simulated"],
                "failures": run["infrastructure_failures"], "queue_wait_s": queue_wait, "answered": answered})
            print(f"in flight {level}: {run['simulated']} conversations ({run['passing']} passing) in {wall:.0f}s; "
                  f"{answered} requests, {queue_wait / max(answered, 1) * 1000:.0f} ms mean wait for a slot, fleet "
                  f"CPU {fleet_cpu:.0f}s, orchestrator CPU {run['cpu_s']:.0f}s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nfleet: {args.replicas} simulated replicas x {args.capacity} sequences (capacity {capacity}), "
          f"time scale {args.time_scale}, teacher pass rate {args.pass_rate}; {args.domain}, {args.tasks} tasks x "
          f"{args.variants} scripts, up to {args.attempts} attempts")
    for r in results:
        print(f"in flight {r['in_flight']:>3}: {r['per_s']:.2f} conversations/s; fleet capacity busy "
              f"{r['steady_share']:.3f} steady ({r['whole_share']:.3f} whole run); orchestrator "
              f"{r['cpu_per_conv']:.3f} CPU-s per conversation ({r['cpu_per_conv'] / base_cpu:.1f}x in-process "
              f"scripted); peak RSS {r['rss_mb']:.0f} MB; database {r['db_per_1k'] / 1e6:.1f} MB per 1K "
              f"conversations; resume {r['resume_s']:.1f}s ({r['resume_replayed']} replayed); "
              f"infrastructure failures {r['failures']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
