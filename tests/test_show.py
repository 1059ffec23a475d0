"""`writ show` prints a stored conversation as a person reads it, and `writ ls` lists what the home
holds, both on the default run's home and checked against its tables read with plain SQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tau2.environment.toolkit import ToolType
from writ_testing import DEFAULT_RUN_ARGS, LLM_EXTRA, default_run_home, writ_main

from writ_dagster.core.storage.schema import connect

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return default_run_home(tmp_path_factory, *DEFAULT_RUN_ARGS)


def _write_tools(domain: str) -> set[str]:
    """τ²'s own write tools of ``domain``, read from its toolkit (not through WRIT's registry)."""
    from tau2.registry import registry

    env = registry.get_env_constructor(domain)()
    return {t.name for t in env.get_tools() if env.tools.tool_type(t.name) == ToolType.WRITE}


def test_show_prints_every_message_and_the_writes_made(default_home: Path) -> None:
    with connect(default_home / "writ.duckdb", read_only=True) as con:
        rows = con.execute("SELECT DISTINCT ON (trajectory_type) trajectory_id, domain, trajectory_type, reward, "
                           "messages_json FROM trajectories ORDER BY trajectory_type, trajectory_id").fetchall()
        sft_row = con.execute("SELECT row_id, trajectory_id FROM sft_rows ORDER BY row_id LIMIT 1").fetchone()
    assert {r[2] for r in rows} == {"normal", "read-heavy", "write-intensive"}
    for trajectory_id, domain, kind, reward, messages_json in rows:
        messages = json.loads(messages_json)
        shown = writ_main(default_home, "show", trajectory_id, "--width", "120")
        assert shown.returncode == 0, shown.stderr
        out = shown.stdout
        assert out.startswith(f"trajectory {trajectory_id}: {domain}/") and f"({kind}, " in out
        assert f"reward {reward:g}," in out
        flat = " ".join(out.split())
        for m in messages:  # every text message, whole (wrapping only moves the line breaks)
            if m["role"] in ("user", "assistant") and (m.get("content") or "").strip():
                assert " ".join(m["content"].split()) in flat, m["content"]
        made = [c for m in messages if m["role"] == "assistant" for c in m.get("tool_calls") or []]
        results = [m for m in messages if m["role"] == "tool"]
        body = out.split("\n\n", 1)[1].splitlines()
        assert sum(line.startswith("agent -> ") for line in body) == len(made)
        assert sum(line.startswith("tool  <- ") for line in body) == len(results)
        writes = [c["name"] for c in made if c["name"] in _write_tools(domain)]
        header = next(line for line in out.splitlines() if line.startswith("writes made"))
        assert header.startswith(f"writes made ({len(writes)}): ")
        assert [part.split("(")[0] for part in header.split(": ", 1)[1].split("; ")] == (writes or ["none"])
        assert sum("-> WRITE " in line for line in body) == len(writes)
    by_row = writ_main(default_home, "show", sft_row[0])
    assert by_row.returncode == 0 and by_row.stdout.startswith(f"trajectory {sft_row[1]}:"), by_row.stderr


def test_show_refuses_an_unknown_id_in_one_line(default_home: Path) -> None:
    shown = writ_main(default_home, "show", "traj-0000000000000000")
    assert shown.returncode == 2 and shown.stdout == ""
    assert len(shown.stderr.strip().splitlines()) == 1 and "traj-0000000000000000" in shown.stderr


def test_ls_lists_every_set_checkpoint_and_evaluation_with_its_figures(default_home: Path) -> None:
    listed = writ_main(default_home, "ls")
    assert listed.returncode == 0, listed.stderr
    out = listed.stdout
    with connect(default_home / "writ.duckdb", read_only=True) as con:
        sets = con.execute("SELECT sft_version, n_train, n_validation, considered FROM sft_sets").fetchall()
        models = con.execute("SELECT checkpoint_id, steps, train_rows FROM checkpoints").fetchall()
        scores = con.execute("SELECT evaluation_id, domain, model_label, figures_json FROM evaluations").fetchall()
    assert f"SFT sets ({len(sets)})" in out and sets
    for version, n_train, n_validation, considered in sets:
        line = next(line for line in out.splitlines() if line.startswith(f"  {version} "))
        assert (f"{n_train + n_validation} rows (train {n_train}, validation {n_validation}) from {considered} "
                f"trajectories, {considered - n_train - n_validation} dropped") in line
    assert f"checkpoints ({len(models)})" in out
    for checkpoint_id, steps, train_rows in models:
        assert f"  {checkpoint_id} " in out and f"{steps} steps on {train_rows} rows" in out
    assert f"evaluations ({len({s[0] for s in scores})})" in out
    for evaluation_id, domain, label, figures_json in scores:
        figures = json.loads(figures_json)
        assert f"  {evaluation_id} " in out
        line = next(line for line in out.splitlines() if line.startswith(f"    {domain} {label}: "))
        assert f"pass^1 {figures['pass_k']['1']:.3f}" in line and f"errors {figures['errors']}" in line
    if LLM_EXTRA:  # the default run trains and evaluates: all three kinds are there
        assert models and scores
