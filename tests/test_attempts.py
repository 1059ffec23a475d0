"""Attempts per (task, script): seeds, which attempts a partition keeps, resume, pass@k, and
conversations that failed on infrastructure (retried by the next run, never final)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import duckdb
import pytest
from llm_fakes import LoopbackServer, fake_openai_app
from writ_testing import SMALL, small_airline_batches

from writ_dagster.core.progress import listening
from writ_dagster.core.simulation.attempts import (
    AttemptPolicy,
    Outcome,
    attempt_seed,
    is_infrastructure_error,
    walk,
)
from writ_dagster.core.simulation.settings import TrajectoryConfig
from writ_dagster.core.stages.trajectories import run_trajectories
from writ_dagster.core.stages.user_scripts import run_user_scripts
from writ_dagster.core.storage.runs import read_stage_run
from writ_dagster.core.storage.schema import connect
from writ_dagster.core.storage.tasks import write_partition

pytest.importorskip("openai")
BASE = TrajectoryConfig(variants=1, seed=11)
P, F, X = Outcome(True), Outcome(False), Outcome(False, infrastructure=True)


def test_walk_keeps_attempts_in_order_until_the_wanted_passes():
    one = AttemptPolicy(attempts=3, wanted_passes=1)
    assert walk({}, one) == (walk({}, one).__class__((), 0, False))
    assert walk({0: F}, one).next_attempt == 1
    assert walk({0: F, 1: P, 2: F}, one).kept == (0, 1)  # attempt 2 is no longer wanted
    assert walk({0: F, 1: F, 2: F}, one).kept == (0, 1, 2) and walk({0: F, 1: F, 2: F}, one).next_attempt is None
    assert walk({0: F, 2: F}, one).next_attempt == 1  # a gap left by a kill is filled first
    state = walk({0: F, 1: X}, one)
    assert state.blocked and state.kept == (0,) and state.next_attempt is None
    two = AttemptPolicy(attempts=4, wanted_passes=2)
    assert walk({0: P, 1: F, 2: P}, two).kept == (0, 1, 2)
    assert attempt_seed(11, 0) == 11 and len({attempt_seed(11, k) for k in range(8)}) == 8
    assert attempt_seed(11, 3) == attempt_seed(11, 3) < 2 ** 63


def test_infrastructure_errors_are_told_from_model_failures():
    assert is_infrastructure_error("agent: connection: ConnectError (gave up after 5 attempts)")
    assert is_infrastructure_error("user: http 503 (gave up after 5 attempts)")
    assert is_infrastructure_error("agent: timeout (gave up after 1 attempts)")
    assert not is_infrastructure_error("agent: http 400: context length exceeded")
    assert not is_infrastructure_error(None) and not is_infrastructure_error("")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "writ.duckdb"
    with connect(path) as con:
        write_partition(con, small_airline_batches()["b0000"], SMALL)
        run_user_scripts(con, "airline", "b0000", BASE)
    return path


def rows(con: duckdb.DuckDBPyConnection) -> dict[str, tuple]:
    return {r[0]: r[1:] for r in con.execute(
        "SELECT trajectory_id, task_id, script_id, attempt, seed, reward, content_hash FROM trajectories").fetchall()}


def test_scripted_default_gives_the_same_rows_with_one_or_four_attempts(db: Path, tmp_path: Path):
    with connect(db) as con:
        one = run_trajectories(con, "airline", "b0000", BASE)
        before = rows(con)
        four = run_trajectories(con, "airline", "b0000", BASE.model_copy(update={"attempts": 4}))
        assert rows(con) == before and four.simulated == 0 and four.kept == one.planned == 8
        assert {r[2] for r in before.values()} == {0}
        by_type = four.figures["attempts"]["by_trajectory_type"]
        assert by_type and all(v["pass@1"] == v["pass@k"] == 1.0 for v in by_type.values())
        # keep_passing: every attempt of the (always passing) scripted agent is kept, up to N
        kept = run_trajectories(con, "airline", "b0000", BASE.model_copy(update={"attempts": 3, "keep_passing": 2}))
        assert kept.planned == 16 and kept.kept == 8 and kept.simulated == 8
        assert sorted(r[2] for r in rows(con).values()) == [0] * 8 + [1] * 8
        assert all(rows(con)[tid] == row for tid, row in before.items())


def _useless_agent(body: dict) -> dict:
    """A model that never does the task: every conversation fails (reward 0)."""
    return {"content": "I cannot help with that. ###STOP###"}


def _model(url: str, **update) -> TrajectoryConfig:
    options = {"base_urls": [url], "model": "fake", "max_retries": 1, "backoff_s": 0.01, "backoff_max_s": 0.02,
               "timeout_s": 5}
    return BASE.model_copy(update={"agent_backend": "openai-compatible", "agent_options": options,
                                   "max_steps": 12, **update})


def test_failed_attempts_are_all_stored_and_none_is_deleted_when_attempts_grow(db: Path):
    app, seen = fake_openai_app(_useless_agent)
    lines: list[tuple[int, int, bool]] = []
    with LoopbackServer(app) as server, connect(db) as con:
        with listening(lambda p: lines.append((p.done, p.planned, p.finished))):
            three = run_trajectories(con, "airline", "b0000", _model(server.base_url, attempts=3))
        first = rows(con)
        # failed attempts call for more: the plan grows, but the partition is finished only once, at its end
        assert [finished for *_, finished in lines] == [False] * 23 + [True] and lines[-1][:2] == (24, 24)
        assert all(done < planned <= 24 for done, planned, _ in lines[:-1])
        assert three.planned == 24 and sorted(r[2] for r in first.values()) == [0] * 8 + [1] * 8 + [2] * 8
        assert all(r[4] < 1.0 for r in first.values())
        assert {(r[2], r[3]) for r in first.values()} == {(k, attempt_seed(11, k)) for k in range(3)}
        assert {v["pass@k"] for v in three.figures["attempts"]["by_trajectory_type"].values()} == {0.0}
        # a kill between attempts leaves a gap: the rerun fills exactly it
        gone = sorted(tid for tid, r in first.items() if r[2] == 1)[:3]
        con.execute("DELETE FROM trajectories WHERE list_contains(?, trajectory_id)", [gone])
        resumed = run_trajectories(con, "airline", "b0000", _model(server.base_url, attempts=3))
        assert resumed.simulated == 3 and rows(con) == first
        four = run_trajectories(con, "airline", "b0000", _model(server.base_url, attempts=4))
        assert four.kept == 24 and four.simulated == 8 and all(rows(con)[t] == r for t, r in first.items())


def _dead_url() -> str:
    with socket.socket() as sock:  # nothing listens there afterwards: connection refused
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


def _first_user_text(body: dict) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def test_infrastructure_failures_are_not_final_and_only_they_are_retried(db: Path):
    failing: set[str] = set()

    def flaky(body: dict) -> dict | int:
        key = _first_user_text(body)
        if len(failing) < 3 or key in failing:  # the first three conversations seen keep failing
            failing.add(key)
            return 503
        return _useless_agent(body)

    app, _ = fake_openai_app(flaky)
    with LoopbackServer(app) as server, connect(db) as con:
        broken = run_trajectories(con, "airline", "b0000", _model(server.base_url, attempts=2))
        assert broken.infrastructure_failures == 3 and broken.run is None
        assert read_stage_run(con, "trajectories", "airline", "b0000") is None  # not complete
        assert len(rows(con)) == 13  # 5 chains x 2 failed attempts, 3 rows that failed on infrastructure
    app, seen = fake_openai_app(_useless_agent)
    with LoopbackServer(app) as server, connect(db) as con:
        kept_rows = {t: r for t, r in rows(con).items()}
        fixed = run_trajectories(con, "airline", "b0000", _model(server.base_url, attempts=2))
        assert fixed.infrastructure_failures == 0 and fixed.run is not None
        assert {_first_user_text(s["body"]) for s in seen} == failing  # requests only for those conversations
        assert fixed.planned == 16 and fixed.simulated == 6 and fixed.pruned == 3
        final = rows(con)
        assert sum(1 for t, r in kept_rows.items() if final.get(t) == r) == 10


def test_a_dead_endpoint_fails_every_conversation_on_infrastructure(db: Path):
    with connect(db) as con:
        dead = run_trajectories(con, "airline", "b0000", _model(_dead_url()))
        assert dead.infrastructure_failures == 8 and dead.run is None


def test_writ_run_against_a_dead_endpoint_fails_then_a_live_one_retries_only_those(tmp_path: Path,
                                                                                    monkeypatch, capsys):
    import json

    from writ_testing import use_writ_home

    from writ_dagster.cli import EXIT_OK, main

    home = use_writ_home(tmp_path, monkeypatch)

    def run(url: str) -> int:
        config = tmp_path / "model.json"
        options = {"base_urls": [url], "model": "fake", "max_retries": 1, "backoff_s": 0.01,
                   "backoff_max_s": 0.02, "timeout_s": 5}
        config.write_text(json.dumps({"simulation": {"agent_options": options, "max_steps": 12}}))
        return main(["run", "--domain", "airline", "--batch", "b0000", "--tasks-per-batch", "4", "--variants", "1",
                     "--agent-backend", "openai-compatible", "--config", str(config), "--until", "trajectories"])

    assert run(_dead_url()) != EXIT_OK
    out = capsys.readouterr().out
    assert "airline/b0000: trajectories: FAILED" in out
    assert "4 conversations failed on infrastructure" in out
    with connect(home / "writ.duckdb", read_only=True) as con:
        assert read_stage_run(con, "trajectories", "airline", "b0000") is None
        assert con.execute("SELECT count(*) FROM trajectories").fetchall() == [(4,)]

    app, seen = fake_openai_app(_useless_agent)
    with LoopbackServer(app) as server:
        assert run(server.base_url) == EXIT_OK
    out = capsys.readouterr().out
    assert "trajectories: 4 conversations (4 simulated, 0 kept)" in out and "final ok" in out
    assert len({_first_user_text(s["body"]) for s in seen}) == 4  # each failed conversation once more
    with connect(home / "writ.duckdb", read_only=True) as con:
        assert read_stage_run(con, "trajectories", "airline", "b0000") is not None
        assert con.execute("SELECT count(*) FROM trajectories WHERE backend_error IS NOT NULL").fetchall() == [(0,)]



def _chains(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], list[tuple[int, float, list]]]:
    """(task, script) -> its stored attempts in order: (attempt, reward, messages)."""
    out: dict[tuple[str, str], list[tuple[int, float, list]]] = {}
    for task, script, attempt, reward, messages in con.execute(
            "SELECT task_id, script_id, attempt, reward, messages_json FROM trajectories ORDER BY attempt").fetchall():
        out.setdefault((task, script), []).append((attempt, reward, json.loads(messages)))
    return out


@pytest.mark.timeout(300)
def test_a_pass_that_breaks_the_policy_does_not_end_its_chain(db: Path):
    """Rejection sampling keeps going after a τ² pass the SFT filter would drop (a write before the
    user's yes): such a pass is no pass. A teacher on the simulated fleet that errs only that way."""
    from writ_dagster.core.domains.registry import get_domain
    from writ_dagster.core.sft.compliance import first_violation
    from writ_dagster.rehearsal.config import TEACHER_MODEL
    from writ_dagster.rehearsal.fleet import ThreadFleet

    writes = get_domain("airline").write_tools
    fleet_config = {"replica_count": 1, "time_scale": 0.0, "teacher": {"pass_rate": 0.25, "errors": {
        "wrong_argument": 0, "two_calls": 0, "missing_figure": 0, "write_before_yes": 1}}}
    with ThreadFleet(db.parent, fleet_config) as fleet, connect(db) as con:
        options = {"base_urls": fleet.base_urls, "model": TEACHER_MODEL, "max_retries": 2, "backoff_s": 0.01,
                   "timeout_s": 30}
        strict = BASE.model_copy(update={"agent_backend": "openai-compatible", "agent_options": options,
                                         "attempts": 4})
        run_trajectories(con, "airline", "b0000", strict)
        first = rows(con)
        chains = _chains(con)
        # every attempt but a chain's last is a failure under the stricter rule; a kept pass is compliant
        skipped_passes = 0
        for attempts in chains.values():
            for k, (attempt, reward, messages) in enumerate(attempts):
                assert attempt == k
                compliant = first_violation(messages, writes) is None
                if k < len(attempts) - 1:
                    assert not (reward >= 1.0 and compliant)
                    skipped_passes += reward >= 1.0
        assert skipped_passes > 0  # the fleet's errors did score 1.0 under τ², and the chain went on
        # reward alone (the old rule): the chains end at their first τ² pass; rows already stored are kept
        lax = run_trajectories(con, "airline", "b0000", strict.model_copy(update={"pass_needs_compliance": False}))
        assert lax.simulated == 0 and lax.pruned > 0
        assert all(not any(r >= 1.0 for _, r, _ in a[:-1]) for a in _chains(con).values())
        assert all(first[t] == r for t, r in rows(con).items())
        # back to the stricter rule: exactly the first run's rows again (the fleet is deterministic)
        again = run_trajectories(con, "airline", "b0000", strict)
        assert again.simulated == lax.pruned and rows(con) == first
