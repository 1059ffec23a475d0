"""``writ run``: materialize each stage in order into WRIT_HOME, one summary line per stage and partition."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dagster as dg

from writ_dagster.cli.console_log import console_logger
from writ_dagster.cli.errors import EXIT_FAILED, EXIT_OK, BadInput
from writ_dagster.cli.parser import STAGES
from writ_dagster.cli.progress import TerminalProgress
from writ_dagster.cli.settings import (
    check_llm_extra,
    check_machine,
    config_batches,
    evaluation_settings,
    role_settings,
    sft_settings,
    simulation_settings,
    synthesis_settings,
    training_settings,
)
from writ_dagster.cli.stop import Stopped, StopWatch, watch_stop_signals
from writ_dagster.core.evaluation.metrics import figures_line
from writ_dagster.core.home import (
    WRIT_HOME_ENV,
    check_writable_dir,
    duckdb_path,
    make_dir,
    writ_home,
)
from writ_dagster.core.keys import WRIT_DOMAINS, check_batch_key, check_domain
from writ_dagster.core.progress import listening
from writ_dagster.core.storage.checkpoints import read_checkpoint
from writ_dagster.core.storage.evaluations import read_scores
from writ_dagster.core.storage.runs import read_partition_run, read_stage_run
from writ_dagster.core.storage.schema import check_db_complete
from writ_dagster.core.storage.sft import read_sft_set
from writ_dagster.core.storage.writer_lock import hold_writer_lock
from writ_dagster.definitions import (
    CATALOGUE_JOB,
    CHECKPOINT_JOB,
    EVALUATION_JOB,
    PARTITION_JOB,
    SFT_JOB,
    build_definitions,
)
from writ_dagster.instance import dagster_home, ensure_dagster_home
from writ_dagster.orphans import process_tags, tidy_up
from writ_dagster.partitions import domain_batch_key, ensure_batches
from writ_dagster.resources.storage import WritStorage


@dataclass
class RunState:
    """What the stages of one `writ run` share."""

    args: argparse.Namespace
    domains: list[str]
    batches: list[str]
    instance: dg.DagsterInstance
    defs: dg.Definitions
    storage: WritStorage
    run_config: dict[str, Any]
    tags: dict[str, str]
    stop: StopWatch
    progress: TerminalProgress


def cmd_run(args: argparse.Namespace) -> int:
    """Materialize each stage in order up to ``--until``: the catalogue, tasks, user scripts and
    trajectories (with checks) of each domain × batch, then the SFT set, a checkpoint fine-tuned on
    it, and its τ²-bench evaluation beside its base model's."""
    if not args.progress_every >= 0:  # also refuses nan
        raise BadInput(f"--progress-every must be 0 or more seconds, got {args.progress_every:g}")
    domains = list(dict.fromkeys(check_domain(d) for d in (args.domain or WRIT_DOMAINS)))
    batches = list(dict.fromkeys(check_batch_key(b) for b in config_batches(args)))
    settings = synthesis_settings(args, domains)
    simulation = simulation_settings(args)
    sft = sft_settings(args)
    training = training_settings(args)
    evaluation = evaluation_settings(args)
    roles = role_settings(args)
    check_machine(args.until, roles, training)
    check_llm_extra(args.until)
    check_writable_dir(writ_home(), WRIT_HOME_ENV)
    check_writable_dir(dagster_home(), "DAGSTER_HOME")
    database = duckdb_path()
    check_db_complete(database)
    # Validation is done: from here on things get written.
    make_dir(writ_home(), WRIT_HOME_ENV)
    make_dir(dagster_home(), "DAGSTER_HOME")
    storage = WritStorage(database=str(database))
    try:
        with watch_stop_signals() as stop:
            try:
                with hold_writer_lock(writ_home(), _say_waiting):
                    with storage.connect():
                        pass  # create the file and tables now, so an incompatible file fails early
                    failed = _run_stages(
                        args,
                        domains,
                        batches,
                        storage,
                        stop,
                        build_definitions(
                            storage,
                            settings,
                            simulation,
                            sft=sft,
                            training=training,
                            evaluation_settings=evaluation,
                            loggers={"console": console_logger(stop)},
                            **roles,
                        ),
                    )
            except KeyboardInterrupt:
                stop.check()
                raise Stopped(signal.SIGINT) from None  # a Ctrl-C the watch did not see
    except Stopped as exc:
        print(f"writ: {exc}; what was stored is kept: run the same command again to resume", file=sys.stderr)
        return exc.exit_code
    print(f"database: {database}\ndagster home: {dagster_home()}")
    return EXIT_FAILED if failed else EXIT_OK


def _say_waiting(holder: str) -> None:
    print(
        f"writ: another `writ run` (pid {holder}) is writing to {writ_home()}; waiting for it to finish",
        file=sys.stderr,
        flush=True,
    )


def _run_stages(
    args: argparse.Namespace,
    domains: list[str],
    batches: list[str],
    storage: WritStorage,
    stop: StopWatch,
    defs: dg.Definitions,
) -> int:
    """Run each stage up to ``--until`` in WRIT's Dagster instance; returns the number of failed runs.

    Raises :class:`Stopped` as soon as a stop signal is seen, before anything else starts."""
    failed = 0
    until = STAGES.index(args.until)
    with dg.DagsterInstance.from_config(str(ensure_dagster_home())) as instance:
        for sentence in tidy_up(instance):
            print(f"writ: {sentence}", file=sys.stderr)
        ensure_batches(instance, batches)
        state = RunState(
            args=args,
            domains=domains,
            batches=batches,
            instance=instance,
            defs=defs,
            storage=storage,
            run_config={} if args.verbose else {"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            tags={"writ/source": "cli", **process_tags()},
            stop=stop,
            progress=TerminalProgress(sys.stderr, args.progress_every),
        )
        with listening(state.progress):
            for stage, runner in STAGE_RUNNERS:
                if STAGES.index(stage) > until:
                    break
                stop.check()
                if failed:  # a later stage would build on partial or unchecked results
                    print(f"{stage}: skipped (an earlier stage failed)")
                    continue
                failed += runner(state)
    return failed


def _execute(state: RunState, job: str, partition_key: str | None = None) -> dg.ExecuteInProcessResult:
    """Run ``job`` (one partition of it, if given) in this process; its result, failed or not.

    Raises :class:`Stopped` instead if a stop signal came before or during the run (Dagster turns
    the signal into a failed run, which must not be taken for an ordinary failure)."""
    state.stop.check()
    try:
        result = state.defs.resolve_job_def(job).execute_in_process(
            run_config=state.run_config,
            instance=state.instance,
            partition_key=partition_key,
            raise_on_error=False,
            tags=state.tags,
        )
    finally:
        state.progress.end_line()  # a stage that stopped early leaves its line open
    state.stop.check()
    return result


def _materialized(result: dg.ExecuteInProcessResult, asset: str, key: str) -> Any:
    """The metadata value ``key`` of ``asset``'s materialization in the run, or None if it made none."""
    mats = result.asset_materializations_for_node(asset)
    return mats[0].metadata[key].value if mats else None


def _run_partitions(state: RunState) -> int:
    """Catalogue of each domain, then tasks, user scripts and trajectories of each domain × batch;
    returns the number of failed runs."""
    failed = 0
    for domain in state.domains:
        result = _execute(state, CATALOGUE_JOB, domain)
        print(f"{domain}: catalogue {'ok' if result.success else f'FAILED (run {result.run_id})'}")
        failed += not result.success
        for batch in state.batches:
            result = _execute(state, PARTITION_JOB, domain_batch_key(domain, batch))
            with state.storage.connect(read_only=True) as con:
                run = read_partition_run(con, domain, batch)
                scripts = read_stage_run(con, "user_scripts", domain, batch)
                trajs = read_stage_run(con, "trajectories", domain, batch)
            print(_summary_line(domain, batch, result, run))
            print(_scripts_line(domain, batch, result, scripts))
            print(_trajectories_line(domain, batch, result, trajs))
            failed += not result.success
    return failed


def _run_sft(state: RunState) -> int:
    """The SFT set of every stored trajectory partition, with its checks; returns 1 if the run failed."""
    result = _execute(state, SFT_JOB)
    version, info = _materialized(result, "sft_set", "sft_version"), None
    if version is not None:
        with state.storage.connect(read_only=True) as con:
            info = read_sft_set(con, version)
    print(_sft_line(result, info))
    return int(not result.success)


def _run_checkpoint(state: RunState) -> int:
    """Fine-tune on the latest SFT set (training in its own process); returns 1 if the run failed."""
    result = _execute(state, CHECKPOINT_JOB)
    checkpoint_id, record = _materialized(result, "checkpoint", "checkpoint_id"), None
    if checkpoint_id is not None:
        with state.storage.connect(read_only=True) as con:
            record = read_checkpoint(con, checkpoint_id)
    print(_checkpoint_line(result, record))
    return int(not result.success)


def _checkpoint_line(result: dg.ExecuteInProcessResult, record: Any) -> str:
    head = "checkpoint: " + ("" if result.success else f"FAILED (run {result.run_id}); ")
    if record is None:
        return head + "nothing registered by this run"
    first = record.loss_curve[0][1] if record.loss_curve else float("nan")
    cut = _materialized(result, "checkpoint", "rows_cut_at_max_length")  # the training's own count
    return (
        head + f"{record.checkpoint_id} ({record.recipe}): {record.steps} steps on {record.train_rows} rows "
        f"({cut} cut at max_length), loss {first:.3f} -> {record.final_loss:.3f}; {record.path}; "
        f"checks: {_verdicts(result, 'checkpoint')}"
    )


def _run_evaluation(state: RunState) -> int:
    """Score the latest checkpoint and its base model on τ²-bench; returns 1 if the run failed."""
    result = _execute(state, EVALUATION_JOB)
    evaluation_id = _materialized(result, "evaluation", "evaluation_id")
    if evaluation_id is None:
        print(f"evaluation: FAILED (run {result.run_id}); nothing stored by this run")
        return 1
    with state.storage.connect(read_only=True) as con:
        scores = read_scores(con, evaluation_id)
    for stored in scores:
        print(_evaluation_line(stored.score))
    if not result.success:  # stored, but a blocking check failed (a model none of whose conversations ran)
        print(f"evaluation: FAILED (run {result.run_id}); checks: {_verdicts(result, 'evaluation')}")
    return int(not result.success)


def _evaluation_line(score: Any) -> str:
    # pass^k, reward and tokens over the conversations that ran; errors counted apart, the first quoted
    return f"evaluation: {score.domain} {score.model_label}: {figures_line(score.figures)}; {score.results_path}"


# `writ run` runs these in order, each while its stage is within --until (see STAGES).
STAGE_RUNNERS: list[tuple[str, Callable[[RunState], int]]] = [
    ("trajectories", _run_partitions),
    ("sft", _run_sft),
    ("checkpoint", _run_checkpoint),
    ("evaluation", _run_evaluation),
]


def _sft_line(result: dg.ExecuteInProcessResult, info: Any) -> str:
    head = "sft: " + ("" if result.success else f"FAILED (run {result.run_id}); ")
    if info is None:
        return head + "nothing stored by this run"
    dropped = ", ".join(f"{why} {n}" for why, n in info.dropped.items()) or "none"
    return (
        head + f"set {info.sft_version}: {info.n_train + info.n_validation} rows (train {info.n_train}, "
        f"validation {info.n_validation}) from {info.considered} trajectories, {len(info.cells)} cells, "
        f"dropped: {dropped}; {info.lengths.line() + '; ' if info.lengths else ''}files {info.directory}; "
        f"checks: {_verdicts(result, 'sft_set')}"
    )


def _verdicts(result: dg.ExecuteInProcessResult, asset: str) -> str:
    checks = {
        e.check_name.removeprefix(f"{asset}_"): e
        for e in result.get_asset_check_evaluations()
        if e.asset_key.to_user_string() == asset
    }
    return ", ".join(f"{name} {'ok' if e.passed else e.severity.value}" for name, e in sorted(checks.items())) or "none"


def _head(domain: str, batch: str, result: dg.ExecuteInProcessResult, asset: str, stored: Any) -> tuple[str, bool]:
    """The line's start, and whether this run stored the asset (else the line ends there)."""
    head = f"{domain}/{batch}: " + ("" if asset == "tasks" else f"{asset.replace('_', ' ')}: ")
    if not result.success:
        head += f"FAILED (run {result.run_id}); "
    return head, stored is not None and bool(result.asset_materializations_for_node(asset))


def _summary_line(domain: str, batch: str, result: dg.ExecuteInProcessResult, run: Any) -> str:
    head, ok = _head(domain, batch, result, "tasks", run)
    if not ok:
        return head + "nothing stored by this run"
    return (
        head + f"{run.n_tasks} tasks from {run.attempts} attempts ({run.n_rejections} rejected), "
        f"digest {run.content_digest}; checks: {_verdicts(result, 'tasks')}"
    )


def _scripts_line(domain: str, batch: str, result: dg.ExecuteInProcessResult, run: Any) -> str:
    head, ok = _head(domain, batch, result, "user_scripts", run)
    if not ok:
        return head + "nothing stored by this run"
    figures = json.loads(run.figures_json)
    return (
        head + f"{run.n_rows} scripts for {figures.get('tasks', 0)} tasks ({figures.get('scripted', 0)} "
        f"scripted), digest {run.content_digest}; checks: {_verdicts(result, 'user_scripts')}"
    )


def _trajectories_line(domain: str, batch: str, result: dg.ExecuteInProcessResult, run: Any) -> str:
    head, ok = _head(domain, batch, result, "trajectories", run)
    infra = _materialized(result, "trajectories", "infrastructure_failures")
    if infra:
        return head + (
            f"{infra} conversations failed on infrastructure (endpoint down, 5xx or timeout); run again to retry them"
        )
    if not ok:
        return head + "nothing stored by this run"
    f = json.loads(run.figures_json)
    [mat] = result.asset_materializations_for_node("trajectories")
    simulated, kept = (mat.metadata[k].value for k in ("simulated_this_run", "kept_from_earlier_runs"))
    return (
        head + f"{run.n_rows} conversations ({simulated} simulated, {kept} kept), "
        f"success {100 * f.get('success_rate', 0.0):.1f}%, median {f.get('turns', {}).get('median', 0):g} "
        f"turns, digest {run.content_digest}; checks: {_verdicts(result, 'trajectories')}"
    )
