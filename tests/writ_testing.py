"""Shared helpers of the storage, Dagster and CLI tests (tests/conftest.py belongs to the composers)."""

from __future__ import annotations

import fcntl
import importlib.util
import io
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from functools import cache
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from writ_dagster.core.tasks.models import BatchResult, SynthesisConfig
from writ_dagster.core.tasks.synthesis import Synthesizer

SMALL = SynthesisConfig(tasks_per_batch=8)  # keeps the suite fast


@cache
def small_airline_batches() -> dict[str, BatchResult]:
    """Two small airline batches, b0000 and b0001 (built once per test session)."""
    synth = Synthesizer("airline", SMALL)
    return {b: synth.synthesize(b) for b in ("b0000", "b0001")}


def use_writ_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point WRIT_HOME at a fresh directory; unset DAGSTER_HOME so it defaults to WRIT_HOME/dagster."""
    home = tmp_path / "writ-home"
    monkeypatch.setenv("WRIT_HOME", str(home))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return home


def writ_env(home: Path) -> dict[str, str]:
    """The environment of a `writ` subprocess on ``home``: DAGSTER_HOME unset, output unbuffered."""
    env = dict(os.environ, WRIT_HOME=str(home), PYTHONUNBUFFERED="1")
    env.pop("DAGSTER_HOME", None)
    return env


def writ_cli(home: Path, *args: str, timeout: int = 900,
             extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the real ``writ`` command in a subprocess with ``WRIT_HOME=home`` (DAGSTER_HOME unset)."""
    env = writ_env(home) | (extra_env or {})
    return subprocess.run([sys.executable, "-m", "writ_dagster.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def writ_main(home: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``writ *args`` in this process (``writ_dagster.cli.main``, what the console script calls) with
    ``WRIT_HOME=home`` and DAGSTER_HOME unset; its exit code and what it printed, as :func:`writ_cli`
    gives them. Seconds faster than a subprocess (no second interpreter loading Dagster and tau2), for
    tests of what the command does rather than of the process around it."""
    from writ_dagster.cli import main

    saved = {k: os.environ.get(k) for k in ("WRIT_HOME", "DAGSTER_HOME")}
    os.environ["WRIT_HOME"] = str(home)
    os.environ.pop("DAGSTER_HOME", None)
    out, err = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's usage errors and --help
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    return subprocess.CompletedProcess(["writ", *args], code, out.getvalue(), err.getvalue())


# The whole graph (fine-tuning, vLLM evaluation) needs the `llm` extra; without it the default run
# stops after the SFT set, and the tests of the later stages skip.
LLM_EXTRA = all(importlib.util.find_spec(m) is not None for m in ("trl", "vllm"))
DEFAULT_RUN_ARGS: tuple[str, ...] = () if LLM_EXTRA else ("--until", "sft")

RUN_MARKER_ENV = "WRIT_TEST_RUN_MARKER"
_DEFAULT_RUNS: dict[tuple[str, ...], Path] = {}


def session_shared_dir(factory: pytest.TempPathFactory) -> Path:
    """A folder of this test session that every pytest-xdist worker sees (each worker's base temp is a
    subfolder of the session's), and the session's base temp when tests run in one process."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing): one worker at a time past this point."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# Under the per-test limit (pyproject), which counts the waiting of the module that runs it.
DEFAULT_RUN_TIMEOUT_S = 1500


def _text(out: str | bytes | None) -> str:
    return out.decode(errors="replace") if isinstance(out, bytes) else out or ""


def default_run_home(factory: pytest.TempPathFactory, *args: str) -> Path:
    """WRIT_HOME after ``writ run *args`` on the embedded defaults, run once per test session and
    shared by every test module (and every xdist worker) that asks for the same arguments
    (``DEFAULT_RUN_ARGS``: the README's main command where the `llm` extra is installed, ~4 min; ~40 s
    up to the SFT set). The first to ask runs it; the others wait on a lock and read the same home.
    Tests only read it (write exports elsewhere). Every process the run starts carries
    ``RUN_MARKER_ENV`` with the value in ``run-marker.txt``, so a test can look for any left running
    (:func:`marked_processes`)."""
    if args not in _DEFAULT_RUNS:
        name = "default-run" + "".join(f"-{a.lstrip('-')}" for a in args)
        shared = session_shared_dir(factory)
        home = shared / name
        with locked(shared / f"{name}.lock"):
            failed = shared / f"{name}.failed"
            if failed.exists():  # another worker's attempt failed: report it, do not run it again
                pytest.fail(failed.read_text(), pytrace=False)
            if not (home / "run-stdout.txt").exists():
                marker = uuid.uuid4().hex
                try:
                    run = writ_cli(home, "run", *args, timeout=DEFAULT_RUN_TIMEOUT_S,
                                   extra_env={RUN_MARKER_ENV: marker})
                except subprocess.TimeoutExpired as exc:  # recorded, so no other module runs it again
                    failed.write_text(f"`writ run {' '.join(args)}` took over {exc.timeout:.0f} s:\n"
                                      + _text(exc.stdout)[-3000:] + _text(exc.stderr)[-3000:])
                    pytest.fail(failed.read_text(), pytrace=False)
                if run.returncode != 0:
                    failed.write_text(f"`writ run {' '.join(args)}` exited {run.returncode}:\n"
                                      + run.stdout[-3000:] + run.stderr[-3000:])
                    pytest.fail(failed.read_text(), pytrace=False)
                (home / "run-marker.txt").write_text(marker)
                (home / "run-stdout.txt").write_text(run.stdout)  # last: its presence means complete
        _DEFAULT_RUNS[args] = home
    return _DEFAULT_RUNS[args]


def marked_processes(marker: str) -> list[int]:
    """Live processes (other than this one) whose environment has ``RUN_MARKER_ENV=marker``."""
    found = []
    needle = f"{RUN_MARKER_ENV}={marker}".encode()
    for env in Path("/proc").glob("[0-9]*/environ"):
        pid = int(env.parent.name)
        if pid == os.getpid():
            continue
        try:
            state = (env.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z" and needle in env.read_bytes().split(b"\0"):
                found.append(pid)
        except (OSError, IndexError):
            continue
    return found


def tau2_reward_of_record(task: Any, record: Any) -> float:
    """tau2's own reward (``evaluate_simulation``, every evaluation type) for a stored conversation
    ``record`` of the task record ``task``, ended as the record says."""
    from tau2.data_model.simulation import TerminationReason
    from tau2.data_model.tasks import Task
    from tau2.evaluator.evaluator import EvaluationType, evaluate_simulation

    from writ_dagster.core.domains.verify import simulation_run

    tau2_task = Task.model_validate(task.task)
    run = simulation_run(tau2_task, record.tau2_messages(), termination=TerminationReason(record.termination_reason))
    return evaluate_simulation(run, tau2_task, EvaluationType.ALL, False, task.domain).reward


def scripted_conversations(tasks_per_batch: int, partition: str) -> tuple[dict[str, Any], list[Any]]:
    """Tasks of both domains (by id) and their conversations as the scripted default plays them: one
    batch of ``tasks_per_batch`` per domain, 2 user scripts per task, the oracle agent and scripted user."""
    from writ_dagster.core.simulation.engine import Job, SimulationEngine
    from writ_dagster.core.simulation.oracle import OracleAgent
    from writ_dagster.core.simulation.records import SimulationConfig
    from writ_dagster.core.simulation.scripted_user import ScriptedUser
    from writ_dagster.core.users.scripts import make_scripts

    tasks, jobs = {}, []
    for domain in ("airline", "retail"):
        for rec in Synthesizer(domain, SynthesisConfig(tasks_per_batch=tasks_per_batch)).synthesize(partition).tasks:
            tasks[rec.task_id] = rec
            jobs += [Job(rec, s, seed=0, partition=partition) for s in make_scripts(rec, 2, 0)]
    return tasks, SimulationEngine(OracleAgent(), ScriptedUser(), SimulationConfig()).run_all(jobs)
