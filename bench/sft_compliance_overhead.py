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
repeated ``--repeats`` times in back-to-back pairs (which one goes first alternates); the ratio
is the median of the pairs' with/without ratios, steadier on a shared machine than a
difference of two separately noisy times. The two steps are also timed alone, as a
cross-check. Figures are printed last, the added share of build time against the < 5 % target.

    python bench/sft_compliance_overhead.py [--trajectories 2000] [--home DIR] [--keep] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
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
    from writ_dagster.core.stages.sft import read_sft_inputs
    from writ_dagster.core.storage.schema import connect

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
        for i in range(repeats):
            for kind in (("without", "with") if i % 2 == 0 else ("with", "without")):  # neither always goes first
                seconds, rows, dropped = build(records, kind == "with")
                times[kind].append(seconds)
                out[f"{name}_{kind}_rows"], out[f"{name}_{kind}_dropped"] = rows, dropped
        out[name] = {k: min(v) for k, v in times.items()}
        # each pair ran back to back under the same load: the median of their ratios is the steadiest figure
        out[name]["paired"] = statistics.median(w / wo for w, wo in zip(times["with"], times["without"]))
    writes = {d: get_domain(d).write_tools for d in {r.domain for r in stored}}
    texts = [m["content"] for rec in thinking for m in rec.messages if m["role"] == "assistant" and m.get("content")]
    filter_s, strip_s = [], []
    for _ in range(repeats):  # the two steps alone, as a cross-check of the difference of whole builds
        t0 = time.perf_counter()
        for rec in stored:
            first_violation(rec.messages, writes[rec.domain])
        t1 = time.perf_counter()
        for text in texts:
            real_split(text)
        filter_s.append(t1 - t0)
        strip_s.append(time.perf_counter() - t1)
    out["filter_alone"], out["strip_alone"], out["texts"] = min(filter_s), min(strip_s), len(texts)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trajectories", type=int, default=2000, help="stored trajectories to build from (at least)")
    ap.add_argument("--home", type=Path, help="WRIT home holding (or to hold) the store; default: a temporary one")
    ap.add_argument("--keep", action="store_true", help="keep the temporary home")
    ap.add_argument("--repeats", type=int, default=7, help="back-to-back pairs of builds")
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
        added = {name: r[name]["paired"] - 1 for name in ("stored", "think")}
        print(f"\n{r['trajectories']} stored trajectories; child on cores {r['cpus']}; {args.repeats} builds of "
              "each kind, alternating")
        for name, label in (("stored", "as stored (scripted, no reasoning)"),
                            ("think", "with a think block in every assistant text")):
            print(f"  {label}: build_sft fastest without {r[name]['without']:.2f} s "
                  f"({r[f'{name}_without_rows']} rows), with {r[name]['with']:.2f} s ({r[f'{name}_with_rows']} rows, "
                  f"dropped {r[f'{name}_with_dropped'] or 'none'}); median with/without of back-to-back pairs "
                  f"{r[name]['paired']:.3f}")
        direct = (r["filter_alone"] + r["strip_alone"]) / r["stored"]["without"]
        print(f"  the steps alone: filter over {r['trajectories']} trajectories {r['filter_alone']:.3f} s, "
              f"stripping {r['texts']} assistant texts with think blocks {r['strip_alone']:.3f} s "
              f"= {direct:.1%} of the fastest build without them")
        worst = max(added.values())
        print(f"ratio: added build time {added['stored']:+.1%} as stored, {added['think']:+.1%} with think blocks; "
              f"worst {worst:+.1%} vs target < {TARGET:.0%} -> {'OK' if worst < TARGET else 'OVER TARGET'}")
        return 0 if worst < TARGET else 1
    finally:
        if temporary and not args.keep:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
