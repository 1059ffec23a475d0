"""Stage ``trajectories``: a partition's stored tasks and user scripts -> scored conversations.

Each (task, script) is a chain of up to ``attempts`` attempts (see ``simulation.attempts``):
which attempts a partition holds follows from the attempts' outcomes, so it is planned as the
run goes. Further attempts take the slot of the attempt that failed, so all chains share the
``max_concurrency`` pool.

Resumable: every finished conversation is stored at once (its own transaction), and a run
first keeps the stored rows that the plan can still use unchanged (same trajectory id and
resume key), deletes the rest, and simulates only what is missing. A run killed at any
point and started again therefore ends with exactly the planned rows, each as an
uninterrupted run would have written it.

A conversation that ended on an infrastructure failure is stored (so it can be traced) but
is not final: its chain stays unfinished, the partition is not recorded as complete, and the
next run deletes that row and simulates the attempt again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import duckdb

from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.progress import Progress, publish
from writ_dagster.core.sft.compliance import first_violation
from writ_dagster.core.simulation.attempts import (
    AttemptPolicy,
    ChainState,
    Outcome,
    attempt_seed,
    is_infrastructure_error,
    pass_at_k,
    walk,
)
from writ_dagster.core.simulation.backends import model_info
from writ_dagster.core.simulation.batch import is_batched, jobs_for_scripts, simulate_jobs
from writ_dagster.core.simulation.engine import Job
from writ_dagster.core.simulation.quality import rows_quality
from writ_dagster.core.simulation.records import SimulationConfig, TrajectoryRecord, resume_key
from writ_dagster.core.simulation.registry import backend_factory
from writ_dagster.core.simulation.settings import TrajectoryConfig
from writ_dagster.core.simulation.summary import SUMMARY_COLUMNS, summarize_trajectories
from writ_dagster.core.stages import MissingInputError, require_intents
from writ_dagster.core.storage.runs import StageRun, read_partition_run, read_stage_run
from writ_dagster.core.storage.scripts import read_user_scripts
from writ_dagster.core.storage.tasks import read_tasks
from writ_dagster.core.storage.trajectories import (
    finish_trajectories,
    insert_trajectory,
    prune_trajectories,
    read_trajectories,
    stored_messages,
    stored_outcomes,
    trajectories_digest,
    trajectories_frame,
)
from writ_dagster.core.versioning import code_version, tau2_version

OnStored = Callable[[Progress], None]  # after each stored row: the partition's counts so far
BackendFactory = Callable[[], Any]


@dataclass
class TrajectoryRun:
    """What one run of the stage did to a partition."""

    run: StageRun | None  # None while conversations failed on infrastructure: the partition is not complete
    planned: int
    kept: int
    simulated: int
    pruned: int
    figures: dict[str, Any]
    infrastructure_failures: int = 0
    content_digest: str = ""


def plan(con: duckdb.DuckDBPyConnection, domain: str, partition: str, seed: int) -> list[Job]:
    """One job per stored user script of the partition (raises if scripts or tasks are missing)."""
    scripts_run = read_stage_run(con, "user_scripts", domain, partition)
    if scripts_run is None:
        raise MissingInputError(
            f"user scripts of {domain}/{partition} are not stored; materialize `user_scripts` first"
        )
    tasks_run = read_partition_run(con, domain, partition)
    made_from = json.loads(scripts_run.figures_json).get("tasks_digest")
    if tasks_run is None or made_from != tasks_run.content_digest:
        raise MissingInputError(
            f"user scripts of {domain}/{partition} were made from other tasks than those "
            "stored now; materialize `user_scripts` again first"
        )
    tasks = require_intents(read_tasks(con, domain, partition), domain, partition)
    return jobs_for_scripts(tasks, read_user_scripts(con, domain, partition), seed)


def partition_quality(con: duckdb.DuckDBPyConnection, domain: str, partition: str) -> dict[str, Any]:
    """Language variety and evidence figures of a partition's stored conversations (see ``quality``)."""
    tasks = {t.task_id: t for t in read_tasks(con, domain, partition)}
    return rows_quality(read_trajectories(con, domain, partition), tasks)


class _Chains:
    """The attempt chains of a partition: every possible attempt's job and resume key, and outcomes."""

    def __init__(
        self, jobs: list[Job], policy: AttemptPolicy, key_of: Callable[[Job], str], write_tools: frozenset[str]
    ) -> None:
        self.policy = policy
        self.write_tools = write_tools
        self.chains = [
            [replace(job, seed=attempt_seed(job.seed, k), attempt=k) for k in range(policy.attempts)] for job in jobs
        ]
        self.keys = {job.trajectory_id: key_of(job) for chain in self.chains for job in chain}
        self.chain_of = {job.trajectory_id: i for i, chain in enumerate(self.chains) for job in chain}
        self.outcomes: dict[str, Outcome] = {}
        self.undecided = set(range(len(self.chains)))  # chains that may still call for an attempt
        self.recorded = 0  # conversations of this run recorded here (by `follow`, maybe before they are stored)

    def compliant(self, messages: list[dict[str, Any]]) -> bool:
        """Whether a conversation keeps the policy rules the SFT filter drops conversations for."""
        return first_violation(messages, self.write_tools) is None

    def add(self, trajectory_id: str, reward: float, backend_error: str | None, compliant: bool = True) -> bool:
        """Record an attempt's outcome; whether it counts as a pass."""
        passed = self.policy.passed(reward, compliant)
        self.outcomes[trajectory_id] = Outcome(passed=passed, infrastructure=is_infrastructure_error(backend_error))
        i = self.chain_of[trajectory_id]
        if self.next_job(i) is None:
            self.undecided.discard(i)
        return passed

    def planned(self, stored: int, stored_now: int) -> int:
        """Rows the partition will hold as far as known now: the ``stored`` ones, those this run finished
        but has not stored yet (``stored_now`` of its conversations are), and one more per undecided chain
        (a chain whose attempt fails calls for another, so this grows until the last chain ends)."""
        return stored + (self.recorded - stored_now) + len(self.undecided)

    def add_record(self, record: TrajectoryRecord) -> bool:
        """Record a finished conversation's outcome (once); whether it counts as a pass."""
        if record.trajectory_id in self.outcomes:
            return self.outcomes[record.trajectory_id].passed
        self.recorded += 1
        compliant = record.reward < 1.0 or not self.policy.needs_compliance or self.compliant(record.messages)
        return self.add(record.trajectory_id, record.reward, record.backend_error, compliant)

    def state(self, i: int) -> ChainState:
        chain = self.chains[i]
        return walk(
            {job.attempt: self.outcomes[job.trajectory_id] for job in chain if job.trajectory_id in self.outcomes},
            self.policy,
        )

    def next_job(self, i: int) -> Job | None:
        state = self.state(i)
        return None if state.next_attempt is None else self.chains[i][state.next_attempt]

    def follow(self, record: TrajectoryRecord) -> Job | None:
        """The chain's next attempt after ``record`` (None: the chain is finished or blocked)."""
        self.add_record(record)
        return self.next_job(self.chain_of[record.trajectory_id])

    def wanted(self) -> dict[str, str]:
        """id -> resume key of every row the chains keep now (finished attempts; blocked ones too)."""
        out = {}
        for i, chain in enumerate(self.chains):
            state = self.state(i)
            last = [len(state.kept)] if state.blocked else []  # the attempt that failed on infrastructure
            for k in (*state.kept, *last):
                out[chain[k].trajectory_id] = self.keys[chain[k].trajectory_id]
        return out

    def blocked(self) -> int:
        return sum(self.state(i).blocked for i in range(len(self.chains)))


def run_trajectories(
    con: duckdb.DuckDBPyConnection,
    domain: str,
    partition: str,
    config: TrajectoryConfig,
    on_stored: OnStored | None = None,
    agent_factory: BackendFactory | None = None,
    user_factory: BackendFactory | None = None,
) -> TrajectoryRun:
    """Simulate the partition's missing trajectories, storing each as it finishes; see the module doc.

    ``agent_factory``/``user_factory`` supply a role's backend from outside (a model served for the
    run); otherwise the backend named in ``config`` is built from the registry.
    """
    jobs = plan(con, domain, partition, config.seed)
    engine = config.engine_config()
    backends = _Backends.make(config, agent_factory, user_factory)
    agent_info, user_info = model_info(backends.agent), model_info(backends.user)
    engine_hash = engine.content_hash()
    chains = _Chains(
        jobs,
        config.attempt_policy(),
        lambda job: resume_key(
            job.record.content_hash, job.script.content_hash, job.seed, agent_info, user_info, engine_hash
        ),
        get_domain(domain).write_tools,
    )
    reusable, kept_passing = _reuse_stored(con, domain, partition, config.resume, chains)
    done, pruned = prune_trajectories(con, domain, partition, {tid: key for tid, (key, _, _) in reusable.items()})
    progress = Progress(
        f"{domain}/{partition}",
        "stored",
        "trajectories",
        planned=chains.planned(len(done), 0),
        done=len(done),
        passing=kept_passing,
    )
    store = _Store(con, chains, progress, on_stored, stored=len(done))
    _simulate(chains, engine, backends, config.workers, store)
    wanted, extra = _prune_to_plan(con, domain, partition, chains)
    figures = _figures(con, domain, partition, config, chains)
    failures = chains.blocked()
    run = None
    if failures == 0:
        run = finish_trajectories(
            con, domain, partition, config.public_json(), config.content_hash(), code_version(), tau2_version(), figures
        )
    return TrajectoryRun(
        run=run,
        planned=len(wanted),
        kept=len(done),
        simulated=store.simulated,
        pruned=pruned + extra,
        figures=figures,
        infrastructure_failures=failures,
        content_digest=run.content_digest if run else _stored_digest(con, domain, partition),
    )


@dataclass
class _Backends:
    """The run's agent and user backends and the factories that make them."""

    agent_factory: BackendFactory
    user_factory: BackendFactory
    agent: Any
    user: Any
    supplied: bool  # a role's backend came from outside (a model served for the run)

    @classmethod
    def make(
        cls, config: TrajectoryConfig, agent_factory: BackendFactory | None, user_factory: BackendFactory | None
    ) -> _Backends:
        supplied = agent_factory is not None or user_factory is not None
        agent_factory = agent_factory or backend_factory(config.agent_backend, "agent", config.agent_options)
        user_factory = user_factory or backend_factory(config.user_backend, "user", config.user_options)
        agent, user = agent_factory(), user_factory()
        return cls(agent_factory, user_factory, agent, user, supplied)


def _reuse_stored(
    con: duckdb.DuckDBPyConnection, domain: str, partition: str, resume: bool, chains: _Chains
) -> tuple[dict[str, tuple[str, float, str | None]], int]:
    """The stored rows the chains can use, recorded as their outcomes; how many of them pass.

    Usable: a planned attempt, same inputs, not an infrastructure failure (retried).
    """
    reusable = {
        tid: outcome
        for tid, outcome in stored_outcomes(con, domain, partition).items()
        if resume and chains.keys.get(tid) == outcome[0] and not is_infrastructure_error(outcome[2])
    }
    # A stored pass counts only if it kept the policy (when the policy asks): read those rows' messages.
    checked = [tid for tid, (_, reward, _) in reusable.items() if reward >= 1.0 and chains.policy.needs_compliance]
    messages = stored_messages(con, domain, partition, checked)
    kept_passing = 0
    for tid, (_, reward, error) in reusable.items():
        kept_passing += chains.add(tid, reward, error, tid not in messages or chains.compliant(messages[tid]))
    return reusable, kept_passing


class _Store:
    """Stores each conversation as it finishes (the engine's ``on_finish``) and reports the counts."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        chains: _Chains,
        progress: Progress,
        on_stored: OnStored | None,
        stored: int,
    ) -> None:
        self.con, self.chains, self.progress, self.on_stored = con, chains, progress, on_stored
        self.stored = stored
        self.simulated = 0

    def __call__(self, record: TrajectoryRecord) -> None:
        if self.chains.keys.get(record.trajectory_id) != record.resume_key():
            raise RuntimeError(
                f"trajectory {record.trajectory_id} does not match its plan "
                "(a backend changed its name or sampling during the run?)"
            )
        self.stored += insert_trajectory(self.con, record)
        self.simulated += 1
        passed = self.chains.add_record(record)
        u = record.usage
        self.progress.advance(
            passed=passed,
            done=self.stored,
            planned=self.chains.planned(self.stored, self.simulated),
            tokens=(u.agent_completion_tokens + u.user_completion_tokens) if u.kind in ("model", "mixed") else 0,
        )
        publish(self.progress)
        if self.on_stored is not None:
            self.on_stored(self.progress)


def _simulate(chains: _Chains, engine: SimulationConfig, backends: _Backends, workers: int, store: _Store) -> None:
    """Play every attempt the chains call for until none is left, storing each as it ends."""
    todo = [job for i in range(len(chains.chains)) if (job := chains.next_job(i)) is not None]
    # Worker processes only help CPU-bound batched backends; async ones run here, concurrently.
    # A supplied backend lives in this process (a server client, an engine): no worker processes.
    agent, user = backends.agent, backends.user
    workers = workers if is_batched(agent) and is_batched(user) and not backends.supplied else 1
    # One process: reuse the instances made above; several: each worker builds its own.
    factories = (backends.agent_factory, backends.user_factory) if workers > 1 else (lambda: agent, lambda: user)
    while todo:
        # one process: further attempts follow in the slot of the one that failed (one pass);
        # worker processes: one round per attempt index
        # (store records every outcome, so a round of worker processes needs nothing more)
        for _ in simulate_jobs(
            todo,
            agent_factory=factories[0],
            user_factory=factories[1],
            config=engine,
            workers=workers,
            on_finish=store,
            follow=chains.follow if workers == 1 else None,
        ):
            pass
        todo = [job for i in range(len(chains.chains)) if (job := chains.next_job(i)) is not None]


def _prune_to_plan(
    con: duckdb.DuckDBPyConnection, domain: str, partition: str, chains: _Chains
) -> tuple[dict[str, str], int]:
    """The rows the chains keep (id -> resume key), the others deleted (how many), checked against the store.

    Rows a nondeterministic backend made unnecessary (a rerun of an earlier attempt passed) go.
    """
    wanted = chains.wanted()
    _, extra = prune_trajectories(con, domain, partition, wanted)
    now = {tid: key for tid, (key, _, _) in stored_outcomes(con, domain, partition).items()}
    if now != wanted:
        missing, unplanned = len(set(wanted) - set(now)), len(set(now) - set(wanted))
        raise RuntimeError(
            f"{domain}/{partition}: stored trajectories differ from the plan ({missing} missing, {unplanned} unplanned)"
        )
    return wanted, extra


def _figures(
    con: duckdb.DuckDBPyConnection, domain: str, partition: str, config: TrajectoryConfig, chains: _Chains
) -> dict[str, Any]:
    """The partition's summary, quality and pass@k figures."""
    frame = trajectories_frame(
        con, domain, partition, (*SUMMARY_COLUMNS, "task_id", "script_id", "attempt", "trajectory_type")
    )
    figures = summarize_trajectories(frame)
    figures["quality"] = partition_quality(con, domain, partition)
    figures["attempts"] = {
        "per_chain": config.attempts,
        "chains": len(chains.chains),
        "by_trajectory_type": pass_at_k(frame, "trajectory_type"),
    }
    if "task_family" in frame.columns:
        figures["attempts"]["by_task_family"] = pass_at_k(frame, "task_family")
    return figures


def _stored_digest(con: duckdb.DuckDBPyConnection, domain: str, partition: str) -> str:
    """The digest of the partition's stored rows (of a run that is not complete)."""
    return trajectories_digest(
        [
            (tid, h)
            for tid, h in trajectories_frame(con, domain, partition, ("trajectory_id", "content_hash")).iter_rows()
        ]
    )
