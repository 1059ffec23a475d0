"""What the policy-compliance filter and reasoning stripping add to the SFT build, at 2,000 trajectories.

Setup (not timed): a store of at least ``--trajectories`` scored trajectories made by the real
scripted pipeline, as ``bench/sft_build_speed.py`` makes it (``--home DIR`` reuses one).

Measured in one child process pinned to at most 2 cores, on the same inputs read once:

- *with*: ``build_sft`` as a run calls it (policy filter on, think blocks stripped from the
  assistant content of every row);
- *without*: the filter off (``policy_filter=False``) and ``split_reasoning`` in the row
  export replaced by a no-op, i.e. the build as it was before these two steps existed.

Both on the trajectories as stored (scripted: no reasoning, so stripping takes its fast path)
and on a copy where every assistant text carries a think block in its content (as trajectories
stored before reasoning was split off would), so the slow path is timed too. Each build is
repeated ``--repeats`` times, alternating *with* and *without*; the fastest of each counts (the
machine is shared). The filter's own time over every trajectory is printed as a cross-check.
Figures are printed last, the added share of build time against the < 5 % target.

    python bench/sft_compliance_overhead.py [--trajectories 2000] [--home DIR] [--keep] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sft_build_speed import build_store, stored_count  # noqa: E402  (the same store as the build benchmark)

TARGET = 0.05
THINK = "<think>" + "Let me check the policy and what the customer asked before I answer. " * 4 + "</think>\n\n"


def _with_think_blocks(records: list) -> list:
    """Copies whose assistant texts carry a think block in their content."""
    out = []
    for rec in records:
        msgs = [dict(m, content=THINK + m["content"]) if m["role"] == "assistant" and m.get("content") else m
                for m in rec.messages]
        out.append(rec.model_copy(update={"messages": msgs}))
    return out


def child(home: Path, repeats: int) -> dict:
    """Time the builds; return the fastest of each kind and the filter's own time."""
    cpus = sorted(os.sched_getaffinity(0))[:2]
    os.sched_setaffinity(0, cpus)
    from writ_dagster.core.domains.registry import get_domain
    from writ_dagster.core.sft import openai_format
    from writ_dagster.core.sft.compliance import first_violation
    from writ_dagster.core.sft.curate import build_sft
    from writ_dagster.core.sft.models import SFTConfig
    from writ_dagster.core.sft.stage import read_sft_inputs
    from writ_dagster.core.storage import connect

    with connect(home / "writ.duckdb", read_only=True) as con:
        con.execute("SET threads TO 2")
        inputs = read_sft_inputs(con)
    stored = inputs.trajectories
    thinking = _with_think_blocks(stored)
    real_split = openai_format.split_reasoning

    def build(records: list, steps_on: bool) -> tuple[float, int, dict]:
        openai_format.split_reasoning = real_split if steps_on else (lambda text: (text, None))
        try:
            t0 = time.perf_counter()
            result = build_sft(records, inputs.tasks, SFTConfig(policy_filter=steps_on),
                               script_hashes=inputs.script_hashes)
            return time.perf_counter() - t0, len(result.rows), result.dropped
        finally:
            openai_format.split_reasoning = real_split

    out: dict = {"cpus": cpus, "trajectories": len(stored)}
    for name, records in (("stored", stored), ("think", thinking)):
        times: dict[str, list[float]] = {"with": [], "without": []}
        for _ in range(repeats):
            for kind in ("without", "with"):
                seconds, rows, dropped = build(records, kind == "with")
                times[kind].append(seconds)
                out[f"{name}_{kind}_rows"], out[f"{name}_{kind}_dropped"] = rows, dropped
        out[name] = {k: min(v) for k, v in times.items()}
    writes = {d: get_domain(d).write_tools for d in {r.domain for r in stored}}
    t0 = time.perf_counter()
    for rec in stored:
        first_violation(rec.messages, writes[rec.domain])
    out["filter_alone"] = time.perf_counter() - t0
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trajectories", type=int, default=2000, help="stored trajectories to build from (at least)")
    ap.add_argument("--home", type=Path, help="WRIT home holding (or to hold) the store; default: a temporary one")
    ap.add_argument("--keep", action="store_true", help="keep the temporary home")
    ap.add_argument("--repeats", type=int, default=5, help="builds of each kind (the fastest counts)")
    ap.add_argument("--tasks-per-batch", type=int, default=100, help="tasks per domain per setup batch")
    ap.add_argument("--variants", type=int, default=2, help="user scripts (= trajectories) per task")
    ap.add_argument("--workers", type=int, default=2, help="setup simulation worker processes")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        print(json.dumps(child(args.home, args.repeats)))
        return 0

    temporary = args.home is None
    home = Path(tempfile.mkdtemp(prefix="writ-compliance-bench-")) if temporary else args.home.resolve()
    try:
        db = home / "writ.duckdb"
        if stored_count(db) < args.trajectories:
            build_store(db, args.trajectories, args.tasks_per_batch, args.variants, args.workers)
        proc = subprocess.run([sys.executable, __file__, "--child", "--home", str(home),
                               "--repeats", str(args.repeats)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"measured child failed:\n{proc.stderr[-3000:]}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        added = {name: r[name]["with"] / r[name]["without"] - 1 for name in ("stored", "think")}
        print(f"\n{r['trajectories']} stored trajectories; child on cores {r['cpus']}; fastest of {args.repeats} "
              "builds each")
        for name, label in (("stored", "as stored (scripted, no reasoning)"),
                            ("think", "with a think block in every assistant text")):
            print(f"  {label}: build_sft without {r[name]['without']:.2f} s ({r[f'{name}_without_rows']} rows), "
                  f"with {r[name]['with']:.2f} s ({r[f'{name}_with_rows']} rows, dropped "
                  f"{r[f'{name}_with_dropped'] or 'none'})")
        print(f"  the filter alone over every trajectory: {r['filter_alone']:.3f} s")
        worst = max(added.values())
        print(f"ratio: added build time {added['stored']:+.1%} as stored, {added['think']:+.1%} with think blocks; "
              f"worst {worst:+.1%} vs target < {TARGET:.0%} -> {'OK' if worst < TARGET else 'OVER TARGET'}")
        return 0 if worst < TARGET else 1
    finally:
        if temporary and not args.keep:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
