"""SFT-set build time and peak memory for WRIT's budget: 2,000 stored trajectories -> one SFT set.

Setup (not timed): a store of at least ``--trajectories`` scored trajectories in a WRIT home,
made by the real scripted pipeline through the core stage functions (synthesis, user
scripts, simulation with the oracle agent and scripted user, each conversation stored as it
ends), in batches of ``--tasks-per-batch`` tasks per domain. ``--home DIR`` reuses a store
already there (default: a temporary folder, removed afterwards unless ``--keep``).

Measured, each in a fresh child process pinned to at most 2 cores (DuckDB also limited to
2 threads), so no setup data sits in the measured process:

1. timing run: read the stored trajectories and tasks (``read_sft_inputs``; also the
   baseline), ``build_sft``, ``publish_sft`` (= ``write_sft`` into a temporary folder and a
   rename), ``write_sft_set``. Peak memory of the build: the child's peak resident set
   (``ru_maxrss``) minus its resident set just before the build (imports and interpreter
   done), and the absolute peak;
2. tracemalloc run: the same steps with ``tracemalloc`` on (slower, so not timed): the peak
   of memory allocated by Python during the build, a cross-check of (1) without the
   interpreter and libraries.

Figures are printed last: seconds per step, total, ratio to the read baseline, and the
targets (<= 60 s, <= 2 GB on 2 cores).

    python bench/sft_build_speed.py [--trajectories 2000] [--home DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

TARGET_S = 60.0
TARGET_BYTES = 2 * 1024**3
DOMAINS = ("airline", "retail")


def _rss_bytes() -> int:
    """Current resident set size of this process."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _pin_two_cores() -> list[int]:
    cpus = sorted(os.sched_getaffinity(0))[:2]
    os.sched_setaffinity(0, cpus)
    return cpus


# -- setup ---------------------------------------------------------------------------------

def stored_count(db: Path) -> int:
    """Trajectories of complete partitions in ``db`` (0 if there is no database)."""
    from writ_dagster.core.storage.schema import connect

    if not db.exists():
        return 0
    with connect(db, read_only=True) as con:
        return con.execute("SELECT count(*) FROM trajectories t JOIN stage_runs r ON r.stage = 'trajectories' "
                           "AND r.domain = t.domain AND r.partition = t.partition").fetchall()[0][0]


def build_store(db: Path, wanted: int, tasks_per_batch: int, variants: int, workers: int) -> None:
    """Synthesize, script, simulate and store batches until ``db`` holds ``wanted`` trajectories."""
    from writ_dagster.core.simulation.settings import TrajectoryConfig
    from writ_dagster.core.stages.tasks import run_tasks
    from writ_dagster.core.stages.trajectories import run_trajectories
    from writ_dagster.core.stages.user_scripts import run_user_scripts
    from writ_dagster.core.storage.runs import stored_partitions
    from writ_dagster.core.storage.schema import connect
    from writ_dagster.core.tasks.models import SynthesisConfig

    synthesis = SynthesisConfig(tasks_per_batch=tasks_per_batch)
    simulation = TrajectoryConfig(variants=variants, workers=workers)
    per_round = len(DOMAINS) * tasks_per_batch * variants
    rounds = math.ceil(max(0, wanted - stored_count(db)) / per_round)
    t0 = time.perf_counter()
    with connect(db) as con:
        start = max([int(p[1:]) + 1 for d in DOMAINS for p in stored_partitions(con, d)], default=0)
        for i in range(start, start + rounds):
            batch = f"b{i:04d}"
            for domain in DOMAINS:
                run_tasks(lambda: nullcontext(con), domain, batch, synthesis)  # the connection held open here
                run_user_scripts(con, domain, batch, simulation)
                run = run_trajectories(con, domain, batch, simulation)
                print(f"  setup {domain}/{batch}: {run.planned} trajectories "
                      f"({time.perf_counter() - t0:.0f} s so far)", flush=True)


# -- the measured child ----------------------------------------------------------------------

def child(home: Path, trace_memory: bool) -> dict:
    """Build the SFT set of ``home``'s store step by step; return timings and memory figures."""
    cpus = _pin_two_cores()
    from writ_dagster.core.sft.models import SFTConfig
    from writ_dagster.core.stages.sft import build_from, publish_sft, read_sft_inputs
    from writ_dagster.core.storage.schema import connect
    from writ_dagster.core.storage.sft import write_sft_set

    config = SFTConfig()
    out: dict = {"cpus": cpus}
    with connect(home / "writ.duckdb") as con:
        con.execute("SET threads TO 2")
        if trace_memory:
            import tracemalloc

            tracemalloc.start()
        rss_before = _rss_bytes()
        t = [time.perf_counter()]
        inputs = read_sft_inputs(con)
        t.append(time.perf_counter())
        build = build_from(inputs, config)
        t.append(time.perf_counter())
        path = publish_sft(build, home / "sft")
        t.append(time.perf_counter())
        write_sft_set(con, build, config, path, inputs.digest)
        t.append(time.perf_counter())
        if trace_memory:
            out["tracemalloc_peak"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    out.update(read=t[1] - t[0], build=t[2] - t[1], write=t[3] - t[2], store=t[4] - t[3], total=t[4] - t[0],
               rss_before=rss_before, rss_peak=peak, trajectories=len(inputs.trajectories), rows=len(build.rows),
               dropped=build.dropped, version=build.version,
               parquet_bytes=sum(p.stat().st_size for p in path.iterdir()))
    return out


def run_child(home: Path, trace_memory: bool) -> dict:
    argv = [sys.executable, __file__, "--child", "--home", str(home)] + (["--trace-memory"] if trace_memory else [])
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"measured child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- main ----------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trajectories", type=int, default=2000, help="stored trajectories to build from (at least)")
    ap.add_argument("--home", type=Path, help="WRIT home holding (or to hold) the store; default: a temporary one")
    ap.add_argument("--keep", action="store_true", help="keep the temporary home")
    ap.add_argument("--tasks-per-batch", type=int, default=100, help="tasks per domain per setup batch")
    ap.add_argument("--variants", type=int, default=2, help="user scripts (= trajectories) per task")
    ap.add_argument("--workers", type=int, default=2, help="setup simulation worker processes")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--trace-memory", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        print(json.dumps(child(args.home, args.trace_memory)))
        return 0

    temporary = args.home is None
    home = Path(tempfile.mkdtemp(prefix="writ-sft-bench-")) if temporary else args.home.resolve()
    try:
        db = home / "writ.duckdb"
        have = stored_count(db)
        print(f"store {db}: {have} complete trajectories; want >= {args.trajectories}", flush=True)
        t0 = time.perf_counter()
        if have < args.trajectories:
            build_store(db, args.trajectories, args.tasks_per_batch, args.variants, args.workers)
        setup_s = time.perf_counter() - t0
        n = stored_count(db)
        timed = run_child(home, trace_memory=False)
        traced = run_child(home, trace_memory=True)
        again = run_child(home, trace_memory=False)  # same inputs: same set
        build_rss = timed["rss_peak"] - timed["rss_before"]
        mib = 1024**2
        ok = timed["total"] <= TARGET_S and timed["rss_peak"] <= TARGET_BYTES
        print(f"\nsetup: {n} stored trajectories ({setup_s:.0f} s to make)")
        print(f"set {timed['version']}: {timed['rows']} rows from {timed['trajectories']} trajectories, "
              f"dropped {timed['dropped'] or 'none'}, Parquet + card {timed['parquet_bytes'] / mib:.1f} MiB; "
              f"rebuilt: {'same version' if again['version'] == timed['version'] else 'DIFFERENT version'}")
        print(f"measured child on cores {timed['cpus']} (DuckDB threads 2)")
        print(f"  read trajectories + tasks from DuckDB (baseline) {timed['read']:7.2f} s")
        print(f"  build_sft                                       {timed['build']:7.2f} s")
        print(f"  write_sft (Parquet + card, temp folder + rename) {timed['write']:7.2f} s")
        print(f"  write_sft_set (DuckDB)                           {timed['store']:7.2f} s")
        print(f"  total                                            {timed['total']:7.2f} s  "
              f"(second run {again['total']:.2f} s)")
        print(f"peak memory of the build: resident {build_rss / mib:.0f} MiB over the {timed['rss_before'] / mib:.0f} "
              f"MiB before it (process peak {timed['rss_peak'] / mib:.0f} MiB); Python allocations "
              f"(tracemalloc) {traced['tracemalloc_peak'] / mib:.0f} MiB")
        print(f"ratio: total / read baseline {timed['total'] / timed['read']:.1f}x; "
              f"total / 60 s target {timed['total'] / TARGET_S:.2f}; "
              f"process peak / 2 GB target {timed['rss_peak'] / TARGET_BYTES:.2f} -> {'OK' if ok else 'OVER TARGET'}")
        return 0 if ok and again["version"] == timed["version"] else 1
    finally:
        if temporary and not args.keep:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
