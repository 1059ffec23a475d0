"""Stage ``evaluation``: the latest checkpoint and its base model, each served by vLLM, scored on τ²-bench.

:func:`run_evaluation` reads the latest registered checkpoint, evaluates it into
``<evaluations_dir>/<evaluation_id>/`` and stores the scores in one transaction; the database is
open only to read and to write, not while the models play.

For each model (the base model first, if asked, then the fine-tuned checkpoint) one vLLM
server is started with tool calling on, unless the settings name an endpoint that serves it
(``agent_endpoints``); the user simulator's server (unless the user is an external endpoint)
runs for the whole evaluation, every domain is played through tau2's harness
(:mod:`writ_dagster.core.evaluation.harness`), and each (model, domain) gets a tau2 results
file ``<out_dir>/<model_label>_<domain>.json`` and a :class:`ModelScore`. Every server is
stopped (its whole process group) on the way out, whatever happened.

A conversation the harness could not run is an error, not a score (:mod:`.metrics`). When no
conversation of a (model, domain) ran, that model was not measured: :func:`run_evaluation`
stores what it has (errors included) and raises :class:`UnmeasuredModelError` quoting the first
error.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from writ_dagster.core.evaluation.harness import DomainRun, Endpoint, run_domain
from writ_dagster.core.evaluation.metrics import completion_tokens, figures_line, passed, score
from writ_dagster.core.evaluation.models import AgentEndpointSpec, EvalConfig, ModelLabel, ModelScore
from writ_dagster.core.llm.server_registry import ServerOwner
from writ_dagster.core.progress import Progress, publish
from writ_dagster.core.stages import Connect, MissingInputError
from writ_dagster.core.storage.checkpoints import CheckpointRecord, latest_checkpoint
from writ_dagster.core.storage.evaluations import evaluation_ids, write_scores

Log = Callable[[str], None]
_EVALUATION_ID = re.compile(r"^\d{8}T\d{12}-[0-9a-f]{8}$")  # see new_evaluation_id


@dataclass
class EvaluationRun:
    """Everything one evaluation produced."""

    evaluation_id: str
    out_dir: Path
    scores: list[ModelScore]
    checkpoint: CheckpointRecord
    timings: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    server_logs: dict[str, str] = field(default_factory=dict)

    def unmeasured(self) -> list[ModelScore]:
        """The (model, domain) rows with no conversation that ran: errors only, no score."""
        return [s for s in self.scores if not s.figures.measured]

    def failure(self) -> str | None:
        """One line saying which models were not measured and why (the first error), or None."""
        bad = self.unmeasured()
        if not bad:
            return None
        first = bad[0].figures
        names = ", ".join(f"{s.model_label}/{s.domain}" for s in bad)
        return (
            f"no conversation of {names} ran ({first.errors} of {first.n_simulations} errored in "
            f"{bad[0].model_label}/{bad[0].domain}; first: {first.first_error})"
        )


class UnmeasuredModelError(RuntimeError):
    """Every conversation of some evaluated (model, domain) errored: there is no score to report.

    Raised after the rows (errors counted) are stored; ``run`` holds what was evaluated."""

    def __init__(self, run: EvaluationRun) -> None:
        super().__init__(f"evaluation {run.evaluation_id}: {run.failure()}")
        self.run = run


def run_evaluation(
    connect: Connect,
    config: EvalConfig,
    evaluations_dir: Path,
    log: Log | None = None,
    warn: Log | None = None,
    owner: ServerOwner | None = None,
) -> EvaluationRun:
    """Evaluate the latest registered checkpoint into ``evaluations_dir/<evaluation_id>`` and store its scores.

    Raises :class:`MissingInputError` (before any server starts) if no checkpoint is registered, and
    :class:`UnmeasuredModelError` (after storing the rows) if every conversation of a model on a
    domain errored. Every server started is recorded for ``owner`` (the run), if given.
    """
    say = log or (lambda _msg: None)
    with connect() as con:  # held only to read; the evaluation itself takes minutes
        checkpoint = latest_checkpoint(con)
        registered = set(evaluation_ids(con))
    if checkpoint is None:
        raise MissingInputError("no registered checkpoint to evaluate: materialize `checkpoint` first")
    removed = remove_unregistered(evaluations_dir, registered)
    if removed:
        say(
            f"removed the folders of {len(removed)} evaluation(s) that stopped before storing scores: "
            + ", ".join(removed)
        )
    evaluation_id = new_evaluation_id(checkpoint.checkpoint_id, config)
    out_dir = evaluations_dir / evaluation_id
    say(
        f"evaluation {evaluation_id}: checkpoint {checkpoint.checkpoint_id} ({checkpoint.path}), "
        f"base model {checkpoint.base_model}; results in {out_dir}"
    )
    run = evaluate_checkpoint(checkpoint, config, out_dir, evaluation_id=evaluation_id, log=log, owner=owner)
    for error in run.errors:
        (warn or say)(error)
    with connect() as con:
        write_scores(con, run.scores)
    if run.failure():
        raise UnmeasuredModelError(run)
    return run


def remove_unregistered(evaluations_dir: Path, registered: set[str]) -> list[str]:
    """Remove the folders under ``evaluations_dir`` that no stored evaluation names: left by an evaluation
    that was killed or failed before its scores were stored (its server logs stay until the next one)."""
    if not evaluations_dir.is_dir():
        return []
    removed = []
    for folder in sorted(evaluations_dir.iterdir()):
        if (
            folder.is_dir()
            and not folder.is_symlink()
            and _EVALUATION_ID.match(folder.name)
            and folder.name not in registered
        ):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


def new_evaluation_id(checkpoint_id: str | None, config: EvalConfig, now: datetime | None = None) -> str:
    """``<UTC time>-<hash of checkpoint and settings>``: sortable and unique per run."""
    now = now or datetime.now(UTC)
    digest = hashlib.sha256(f"{checkpoint_id}\n{config.content_hash()}".encode()).hexdigest()[:8]
    return f"{now:%Y%m%dT%H%M%S%f}-{digest}"


def results_file(out_dir: Path, label: str, domain: str) -> Path:
    """Where one (model, domain)'s tau2 results file goes."""
    return out_dir / f"{label}_{domain}.json"


def models_to_evaluate(checkpoint: CheckpointRecord, config: EvalConfig) -> list[tuple[ModelLabel, str]]:
    """(label, model path or name) in the order they are served."""
    models: list[tuple[ModelLabel, str]] = []
    if config.evaluate_base_model:
        models.append(("base", checkpoint.base_model))
    models.append(("fine-tuned", checkpoint.path))
    return models


def _server_config(model: str, name: str, config: EvalConfig, tool_parser: str, slot: int) -> Any:
    """A server's settings; ``slot`` 0 is the user simulator's, 1 the evaluated model's (they run side by
    side, each on its own cores on a CPU build)."""
    from writ_dagster.core.llm.vllm_server import VLLMServerConfig, cpu_cores_for

    flags = config.server
    return VLLMServerConfig(
        model=model,
        served_model_name=name,
        tool_call_parser=tool_parser,
        dtype=flags.dtype,
        max_model_len=flags.max_model_len,
        tensor_parallel_size=flags.tensor_parallel_size,
        extra_args=tuple(flags.extra_args),
        env={"VLLM_CPU_KVCACHE_SPACE": str(flags.cpu_kv_cache_gib)}
        | cpu_cores_for(slot, 2 if config.user.served_here else 1),
        startup_timeout_s=flags.startup_timeout_s,
        seed=config.seed,
    )


def _start_all(servers: list[Any]) -> None:
    """Start servers side by side (their loading overlaps); raise the first failure.

    Launched here, waited for in threads: a server dies with the thread that launched it."""
    failures: list[BaseException] = []
    for server in servers:
        server.launch()

    def wait(server: Any) -> None:
        try:
            server.wait_ready()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, in this thread
            failures.append(exc)

    threads = [threading.Thread(target=wait, args=(s,), daemon=True) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]


def evaluate_checkpoint(
    checkpoint: CheckpointRecord,
    config: EvalConfig,
    out_dir: Path,
    evaluation_id: str | None = None,
    log: Log | None = None,
    owner: ServerOwner | None = None,
) -> EvaluationRun:
    """Serve and evaluate the base model (if configured) and ``checkpoint`` on every domain; every server
    started is recorded for ``owner`` (the run), if given."""
    evaluation_id = evaluation_id or new_evaluation_id(checkpoint.checkpoint_id, config)
    out_dir.mkdir(parents=True, exist_ok=True)
    logs = out_dir / "logs"
    logs.mkdir(exist_ok=True)
    run = EvaluationRun(evaluation_id=evaluation_id, out_dir=out_dir, scores=[], checkpoint=checkpoint)
    evaluation = _Evaluation(run, config, logs, owner, log or (lambda _msg: None), config.model_dump_json())
    with ExitStack() as stack:
        evaluation.prepare_user_server(stack)
        for label, model in models_to_evaluate(checkpoint, config):
            evaluation.evaluate_model(label, model)
        t1 = time.perf_counter()
    run.timings["user_server_stop_s"] = time.perf_counter() - t1
    return run


@dataclass
class _Evaluation:
    """One evaluation while its models play: the run it fills and the user simulator's server (started
    with the first model's servers, stopped after the last model)."""

    run: EvaluationRun
    config: EvalConfig
    logs: Path
    owner: ServerOwner | None
    say: Log
    config_json: str
    user_server: Any = None
    user_name: str = ""
    user_started: bool = True

    def prepare_user_server(self, stack: ExitStack) -> None:
        """The user simulator's server, when it is served here: made (not started), stopped with ``stack``."""
        from writ_dagster.core.llm.sampling import model_label
        from writ_dagster.core.llm.user_models import resolve_user_model
        from writ_dagster.core.llm.vllm_server import VLLMServer

        spec = self.config.user
        if not spec.served_here:
            self.user_name = f"{spec.model} @ {spec.base_url}"
            return
        t0 = time.perf_counter()
        user_model = resolve_user_model(spec.model)
        self.run.timings["user_model_prepare_s"] = time.perf_counter() - t0
        self.user_server = VLLMServer(
            _server_config(user_model, model_label(user_model), self.config, "hermes", 0),
            log_path=self.logs / "user.log",
            owner=self.owner,
        )
        stack.callback(self.user_server.stop)
        self.run.server_logs["user"] = str(self.logs / "user.log")
        self.user_name = user_model
        self.user_started = False

    def evaluate_model(self, label: ModelLabel, model: str) -> None:
        """Serve one model (unless an endpoint serves it), play every domain and score it."""
        from writ_dagster.core.llm.registration import resolve_model

        timings = self.run.timings
        remote = self.config.agent_endpoints.get(label)
        model = model if remote is not None else resolve_model(model)
        agent_server = None if remote is not None else self._agent_server(label, model)
        t0 = time.perf_counter()
        with ExitStack() as per_model:
            self._start_servers(per_model, agent_server)
            timings[f"{label}_servers_ready_s"] = time.perf_counter() - t0
            user = self._user_endpoint()
            agent = _agent_endpoint(agent_server, remote, model, self.config)
            if agent_server is not None:
                self.say(
                    f"{label}: agent server for {model} ready at {agent.base_url} in {agent_server.startup_s:.1f}s"
                )
            else:
                self.say(f"{label}: agent {agent.model} served at {agent.base_url} (no server started here)")
            played_by_domain = self._play_domains(label, agent, user)
            for domain, played in zip(self.config.domains, played_by_domain):
                self._score(label, model, domain, played, agent_server)
            t1 = time.perf_counter()
        timings[f"{label}_agent_server_start_s"] = _startup_s(agent_server)
        timings[f"{label}_agent_server_stop_s"] = time.perf_counter() - t1

    def _agent_server(self, label: ModelLabel, model: str) -> Any:
        from writ_dagster.core.llm.sampling import model_label
        from writ_dagster.core.llm.vllm_server import VLLMServer

        server = VLLMServer(
            _server_config(model, model_label(model), self.config, self.config.server.agent_tool_call_parser, 1),
            log_path=self.logs / f"agent-{label}.log",
            owner=self.owner,
        )
        self.run.server_logs[f"agent-{label}"] = str(self.logs / f"agent-{label}.log")
        return server

    def _start_servers(self, per_model: ExitStack, agent_server: Any) -> None:
        """Start the model's agent server, and the user server if it is not up yet (it stays up for every model)."""
        starting = [] if self.user_started else [self.user_server]
        if agent_server is not None:
            per_model.callback(agent_server.stop)
            starting.append(agent_server)
        _start_all(starting)
        if not self.user_started:
            assert self.user_server is not None  # user_started begins False only with a user server
            self.user_started = True
            self.run.timings["user_server_start_s"] = self.user_server.startup_s or 0.0

    def _user_endpoint(self) -> Endpoint:
        spec, server = self.config.user, self.user_server
        return Endpoint(
            model=server.config.name if server else spec.model,
            base_url=server.base_url if server else str(spec.base_url),
            temperature=spec.temperature,
            max_tokens=spec.max_tokens,
            api_key_env=None if server else spec.api_key_env,
        )

    def _play_domains(self, label: ModelLabel, agent: Endpoint, user: Endpoint) -> list[DomainRun]:
        """Every domain played by ``agent``, side by side (one server batches both domains' turns)."""

        def play(domain: str) -> DomainRun:
            counts = Progress(f"{label}/{domain}", "played", "conversations", planned=0)

            def progress(done: int, total: int, sim: Any) -> None:
                counts.advance(passed(sim), completion_tokens(sim), done=done, planned=total)
                publish(counts)
                self.say(counts.line())

            out = results_file(self.run.out_dir, label, domain)
            return run_domain(domain, agent, user, self.config, out, on_done=progress)

        with ThreadPoolExecutor(max_workers=len(self.config.domains), thread_name_prefix="eval-domain") as pool:
            return list(pool.map(play, self.config.domains))

    def _score(self, label: ModelLabel, model: str, domain: str, played: DomainRun, agent_server: Any) -> None:
        """One (model, domain)'s score and errors into the run."""
        config, run = self.config, self.run
        run.timings[f"{label}_{domain}_conversations_s"] = played.seconds
        run.errors += [f"{label}/{domain}: {e}" for e in played.errors]
        figures = score(played.results)
        run.scores.append(
            ModelScore(
                evaluation_id=run.evaluation_id,
                domain=domain,
                model_label=label,
                checkpoint_id=run.checkpoint.checkpoint_id if label == "fine-tuned" else None,
                model_path=model,
                user_model=self.user_name,
                task_split=config.task_split,
                num_tasks=figures.n_tasks,
                num_trials=config.num_trials,
                figures=figures,
                results_path=str(played.path),
                config_json=self.config_json,
                timings={
                    "conversations_s": round(played.seconds, 2),
                    "agent_server_start_s": round(_startup_s(agent_server), 2),
                },
            )
        )
        self.say(f"{label}/{domain}: {figures_line(figures)} ({played.seconds:.1f}s)")


def _startup_s(server: Any) -> float:
    return (server.startup_s or 0.0) if server is not None else 0.0


def _agent_endpoint(server: Any, remote: AgentEndpointSpec | None, model: str, config: EvalConfig) -> Endpoint:
    """How litellm reaches the evaluated model: the server started here, or the configured endpoint."""
    from writ_dagster.core.llm.sampling import model_label

    if server is not None:
        return Endpoint(
            model=server.config.name,
            base_url=server.base_url,
            temperature=config.agent_temperature,
            max_tokens=config.agent_max_tokens,
        )
    assert remote is not None
    return Endpoint(
        model=remote.model or model_label(model),
        base_url=remote.base_url,
        temperature=config.agent_temperature,
        max_tokens=config.agent_max_tokens,
        api_key_env=remote.api_key_env,
    )
