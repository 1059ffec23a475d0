"""The preset's rehearsal at a small scale: `writ run` with layered configs against the simulated fleet
(`writ-simulated-fleet`, a real process serving HTTP on loopback), SIGKILLed mid-partition and run
again, ends with exactly the rows of an uninterrupted run, and conversations stored before the kill
are not played again.

The full size (configs/writ-2k.yaml with configs/rehearsal/writ-2k-on-fleet.yaml, about 2K SFT rows)
is a documented command (README, "Rehearsing the preset"), not a test: it takes most of an hour here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml
from test_resume_after_kill import rows, start_and_kill

from writ_dagster.cli import main
from writ_dagster.rehearsal import start_fleet

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
PRESET = ROOT / "configs" / "writ-2k.yaml"
FLEET = {"replica_count": 2, "time_scale": 0.05, "replica": {"capacity": 4, "faults": {"http_5xx_rate": 0.01}},
         "teacher": {"pass_rate": 0.6, "reasoning": "think"}}
TASKS, VARIANTS = 8, 3


def _chains(home: Path) -> list[tuple[int, ...]]:
    con = duckdb.connect(str(home / "writ.duckdb"), read_only=True)
    try:
        return [tuple(r[0]) for r in con.execute(
            "SELECT list_sort(list(attempt)) FROM trajectories GROUP BY task_id, script_id").fetchall()]
    finally:
        con.close()


@pytest.mark.timeout(600)
def test_the_preset_on_the_fleet_is_killed_and_resumes_to_the_uninterrupted_rows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    home = tmp_path / "killed"
    home.mkdir()
    # the preset's own rejection sampling (4 attempts, first pass kept), one small partition
    size = tmp_path / "size.yaml"
    size.write_text(yaml.safe_dump({"tasks_per_batch": TASKS, "batches": 1,
                                    "simulation": {"variants": VARIANTS, "max_concurrency": 4}}))
    with start_fleet(home, FLEET, log=tmp_path / "fleet.log") as fleet:
        endpoints = tmp_path / "endpoints.yaml"
        endpoints.write_text(yaml.safe_dump(fleet.writ_roles()))
        args = ["run", "--domain", "airline", "--config", str(PRESET), "--config", str(size), "--config",
                str(endpoints), "--until", "trajectories"]
        planned = start_and_kill(home, args)
        before = rows(home)
        assert 0 < len(before) < planned

        monkeypatch.setenv("WRIT_HOME", str(home))
        monkeypatch.delenv("DAGSTER_HOME", raising=False)
        assert main(args) == 0
        out = capsys.readouterr().out
        kept = len(before)
        resumed = rows(home)
        assert f"({len(resumed) - kept} simulated, {kept} kept)" in out, out

        # An uninterrupted run of the stage on the same tasks and scripts: a copy of the home, --fresh.
        reference = tmp_path / "reference"
        shutil.copytree(home, reference, ignore=shutil.ignore_patterns("dagster"))
        env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
        env.update(WRIT_HOME=str(reference), PYTHONPATH=str(ROOT))
        proc = subprocess.run([sys.executable, "-m", "writ_dagster.cli", *args, "--fresh"], env=env,
                              capture_output=True, text=True, timeout=400)
        assert proc.returncode == 0, proc.stderr[-2000:]
        stats = fleet.stats()

    fresh = {r[0]: r[1] for r in rows(reference)}
    assert {r[0]: r[1] for r in resumed} == fresh  # the same rows, byte for byte
    assert len(resumed) == len({r[0] for r in resumed})
    stamps = {r[0]: r[2] for r in resumed}
    assert all(stamps[tid] == at for tid, _, at in before)  # stored before the kill: not played again
    # every chain: attempts 0..k, k the first pass (or all 4 failed); some chains needed more than one
    chains = _chains(home)
    assert len(chains) == TASKS * VARIANTS and all(c == tuple(range(len(c))) and len(c) <= 4 for c in chains)
    assert any(len(c) > 1 for c in chains)
    # the fleet really served it: faults were injected and retried, think blocks sent
    assert sum(r["faults"]["http_5xx"] for r in stats["replicas"]) > 0
    con = duckdb.connect(str(home / "writ.duckdb"), read_only=True)
    try:
        agents = con.execute("SELECT DISTINCT agent_name, agent_sampling_json FROM trajectories").fetchall()
    finally:
        con.close()
    assert len(agents) == 1 and "simulated-teacher" in agents[0][0] + agents[0][1]
