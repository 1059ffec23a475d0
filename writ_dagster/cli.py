"""The ``writ`` command: run the pipeline into WRIT_HOME, export tasks, trajectories and SFT sets,
trace an SFT row back to its sources, open the UI.

Every argument is checked before anything is written: a bad domain or batch key, an
impossible synthesis setting or an unreadable database file ends with one line on stderr
and exit code 2, leaving stored partitions as they were.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from writ_dagster.core.home import (
    UPSTREAM_ENV,
    WRIT_HOME_ENV,
    duckdb_path,
    upstream_tasks_dir,
    writ_home,
)
from writ_dagster.core.keys import DEFAULT_BATCH, WRIT_DOMAINS, BadKeyError, check_batch_key, check_domain
from writ_dagster.core.storage import StorageError, check_db_file, connect, stored_partitions, tasks_frame
from writ_dagster.core.tasks.models import tau2_task_dict
from writ_dagster.instance import dagster_home, ensure_dagster_home

if TYPE_CHECKING:
    from writ_dagster.resources.evaluation import EvaluationSettings
    from writ_dagster.resources.sft import SFTSettings
    from writ_dagster.resources.training import TrainingSettings
    from writ_dagster.resources.simulation import SimulationSettings
    from writ_dagster.resources.synthesis import SynthesisSettings

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
_CONFIG_FLAGS = ("tasks_per_batch", "seed", "min_writes", "max_writes", "max_attempts_per_task")
# `writ run` flag -> TrajectoryConfig field
_SIMULATION_FLAGS = {"variants": "variants", "simulation_seed": "seed", "max_concurrency": "max_concurrency",
                     "workers": "workers", "agent_backend": "agent_backend", "user_backend": "user_backend"}
_CONFIG_NAMES = {"SynthesisConfig": "synthesis config", "TrajectoryConfig": "simulation config",
                 "SFTConfig": "SFT config"}
# The stages `writ run --until` can stop after, in order.
STAGES = ("trajectories", "sft", "checkpoint", "evaluation")
# --config file sections other than SynthesisConfig's fields, and what each holds
_STAGE_SECTIONS = {"simulation": "simulation settings", "sft": "SFT-set settings",
                   "training": "TrainingSettings fields", "evaluation": "EvaluationSettings fields"}
# Stages that need the `llm` extra (torch, transformers, trl, vLLM), and a module each imports.
_LLM_STAGES = {"checkpoint": "trl", "evaluation": "vllm"}


class BadInput(Exception):
    """A command-line input WRIT refuses (reported as one line, exit code 2)."""


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "config"
            parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
        return f"invalid {_CONFIG_NAMES.get(exc.title, 'config')}: " + "; ".join(parts)
    return " ".join(str(exc).split())


# -- writ run ------------------------------------------------------------------------------

def _load_config_file(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise BadInput(f"cannot read config file {file}: {exc.strerror or exc}") from None
    import yaml  # a dependency of dagster

    try:
        data = yaml.safe_load(text) if file.suffix in (".yaml", ".yml") else json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise BadInput(f"config file {file} does not parse: {_one_line(exc)}") from None
    if not isinstance(data, dict):
        raise BadInput(f"config file {file} must hold a mapping of SynthesisConfig fields")
    if not isinstance(data.get("simulation", {}), dict):
        raise BadInput(f"config file {file}: 'simulation' must be a mapping of simulation settings")
    for section, what in _STAGE_SECTIONS.items():
        if not isinstance(data.get(section, {}), dict):
            raise BadInput(f"config file {file}: '{section}' must be a mapping of {what}")
    return data


def _settings(args: argparse.Namespace, domains: list[str]) -> SynthesisSettings:
    """Synthesis settings from --config and flags, validated against every chosen domain's composer."""
    from writ_dagster.core.tasks.composers import get_composer
    from writ_dagster.core.tasks.models import SynthesisConfig
    from writ_dagster.core.tasks.synthesis import check_config
    from writ_dagster.resources.synthesis import SynthesisSettings

    fields = _load_config_file(args.config)
    for section in _STAGE_SECTIONS:  # each read by its own _*_settings
        fields.pop(section, None)
    upstream = fields.pop("upstream_tasks_dir", None)
    if upstream is not None and not isinstance(upstream, str):
        raise BadInput(f"upstream_tasks_dir must be a path, got {upstream!r}")
    effective = upstream or upstream_tasks_dir()
    if effective is not None and not Path(effective).is_dir():
        source = "upstream_tasks_dir" if upstream else UPSTREAM_ENV
        raise BadInput(f"{source} {effective!r} is not a directory")
    fields.update({k: getattr(args, k) for k in _CONFIG_FLAGS if getattr(args, k) is not None})
    config = SynthesisConfig(**fields)  # ValidationError: 0 writes, negative counts, unknown fields
    for domain in domains:
        try:
            composer = get_composer(domain)
        except (ImportError, ValueError) as exc:
            raise BadInput(f"no task composer for domain {domain!r}: {_one_line(exc)}") from None
        check_config(config, composer)  # ImpossibleConfigError: more writes than the composer places
    return SynthesisSettings(**config.model_dump(), upstream_tasks_dir=upstream)


def _simulation_settings(args: argparse.Namespace) -> SimulationSettings:
    """Simulation settings from --config's ``simulation`` mapping and flags, validated."""
    from writ_dagster.core.simulation.settings import TrajectoryConfig
    from writ_dagster.resources.simulation import SimulationSettings

    fields = dict(_load_config_file(args.config).get("simulation") or {})
    fields.update({field: getattr(args, flag) for flag, field in _SIMULATION_FLAGS.items()
                   if getattr(args, flag) is not None})
    if args.fresh:
        fields["resume"] = False
    config = TrajectoryConfig(**fields)  # ValidationError: 0 variants, concurrency < 1, unknown backend
    return SimulationSettings(**config.model_dump())


def _sft_settings(args: argparse.Namespace) -> SFTSettings:
    """SFT-set settings from --config's ``sft`` mapping, validated."""
    from writ_dagster.core.sft.models import SFTConfig
    from writ_dagster.resources.sft import SFTSettings

    fields = dict(_load_config_file(args.config).get("sft") or {})
    output_dir = fields.pop("output_dir", None)
    if output_dir is not None and not isinstance(output_dir, str):
        raise BadInput(f"sft.output_dir must be a path, got {output_dir!r}")
    config = SFTConfig(**fields)  # ValidationError: unknown mixture cell, negative target, unknown field
    return SFTSettings(**config.model_dump(), output_dir=output_dir)


def _training_settings(args: argparse.Namespace) -> TrainingSettings:
    """Training settings from --config's ``training`` mapping, validated (the recipe resolved)."""
    from writ_dagster.resources.training import TrainingSettings

    fields = dict(_load_config_file(args.config).get("training") or {})
    try:
        settings = TrainingSettings(**fields)
        settings.training_recipe()  # unknown recipe or override, bf16 on CPU, ...
    except (ValidationError, ValueError, TypeError) as exc:
        raise BadInput(f"invalid training settings: {_one_line(exc)}") from None
    return settings


def _evaluation_settings(args: argparse.Namespace) -> EvaluationSettings:
    """Evaluation settings from --config's ``evaluation`` mapping, validated."""
    from writ_dagster.resources.evaluation import EvaluationSettings

    fields = dict(_load_config_file(args.config).get("evaluation") or {})
    try:
        settings = EvaluationSettings(**fields)
        settings.eval_config()  # unknown domain or task, no trials, ...
    except (ValidationError, ValueError, TypeError) as exc:
        raise BadInput(f"invalid evaluation settings: {_one_line(exc)}") from None
    return settings


def _check_llm_extra(until: str) -> None:
    """Refuse, before anything is written, to run a stage whose packages are not installed."""
    import importlib.util

    for stage, module in _LLM_STAGES.items():
        if STAGES.index(stage) <= STAGES.index(until) and importlib.util.find_spec(module) is None:
            raise BadInput(f"the {stage} stage needs the `llm` extra ({module} is not installed): "
                           "pip install -e '.[llm]' (see the README), or stop earlier with --until sft")


@dataclass
class RunState:
    """What the stages of one `writ run` share."""

    args: argparse.Namespace
    domains: list[str]
    batches: list[str]
    instance: Any
    defs: Any
    storage: Any
    run_config: dict[str, Any]
    tags: dict[str, str]


def cmd_run(args: argparse.Namespace) -> int:
    """Materialize each stage in order up to ``--until``: the catalogue, tasks, user scripts and
    trajectories (with checks) of each domain × batch, then the SFT set, a checkpoint fine-tuned on
    it, and its τ²-bench evaluation beside its base model's."""
    domains = list(dict.fromkeys(check_domain(d) for d in (args.domain or WRIT_DOMAINS)))
    batches = list(dict.fromkeys(check_batch_key(b) for b in (args.batch or [DEFAULT_BATCH])))
    settings = _settings(args, domains)
    simulation = _simulation_settings(args)
    sft = _sft_settings(args)
    training = _training_settings(args)
    evaluation = _evaluation_settings(args)
    _check_llm_extra(args.until)
    database = duckdb_path()
    check_db_file(database)
    # Validation is done: from here on things get written.
    import dagster as dg

    from writ_dagster.definitions import build_definitions
    from writ_dagster.partitions import ensure_batches
    from writ_dagster.resources.storage import WritStorage

    storage = WritStorage(database=str(database))
    with storage.connect():
        pass  # create the file and tables now, so a locked or incompatible file fails early
    failed = 0
    until = STAGES.index(args.until)
    with dg.DagsterInstance.from_config(str(ensure_dagster_home())) as instance:
        ensure_batches(instance, batches)
        state = RunState(
            args=args, domains=domains, batches=batches, instance=instance,
            defs=build_definitions(storage, settings, simulation, sft=sft, training=training,
                                   evaluation_settings=evaluation), storage=storage,
            run_config={} if args.verbose else {"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            tags={"writ/source": "cli"})
        for stage, runner in STAGE_RUNNERS:
            if STAGES.index(stage) > until:
                break
            if failed:  # a later stage would build on partial or unchecked results
                print(f"{stage}: skipped (an earlier stage failed)")
                continue
            failed += runner(state)
    print(f"database: {database}\ndagster home: {dagster_home()}")
    return EXIT_FAILED if failed else EXIT_OK


def _execute(state: RunState, job: str, partition_key: str | None = None) -> Any:
    """Run ``job`` (one partition of it, if given) in this process; its result, failed or not."""
    return state.defs.resolve_job_def(job).execute_in_process(
        run_config=state.run_config, instance=state.instance, partition_key=partition_key, raise_on_error=False,
        tags=state.tags)


def _materialized(result: Any, asset: str, key: str) -> Any:
    """The metadata value ``key`` of ``asset``'s materialization in the run, or None if it made none."""
    mats = result.asset_materializations_for_node(asset)
    return mats[0].metadata[key].value if mats else None


def _run_partitions(state: RunState) -> int:
    """Catalogue of each domain, then tasks, user scripts and trajectories of each domain × batch;
    returns the number of failed runs."""
    from writ_dagster.core.storage import read_partition_run, read_stage_run
    from writ_dagster.definitions import CATALOGUE_JOB, PARTITION_JOB
    from writ_dagster.partitions import domain_batch_key

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
    from writ_dagster.core.sft_storage import read_sft_set
    from writ_dagster.definitions import SFT_JOB

    result = _execute(state, SFT_JOB)
    version, info = _materialized(result, "sft_set", "sft_version"), None
    if version is not None:
        with state.storage.connect(read_only=True) as con:
            info = read_sft_set(con, version)
    print(_sft_line(result, info))
    return int(not result.success)


def _run_checkpoint(state: RunState) -> int:
    """Fine-tune on the latest SFT set (training in its own process); returns 1 if the run failed."""
    from writ_dagster.core.checkpoint_storage import read_checkpoint
    from writ_dagster.definitions import CHECKPOINT_JOB

    result = _execute(state, CHECKPOINT_JOB)
    checkpoint_id, record = _materialized(result, "checkpoint", "checkpoint_id"), None
    if checkpoint_id is not None:
        with state.storage.connect(read_only=True) as con:
            record = read_checkpoint(con, checkpoint_id)
    print(_checkpoint_line(result, record))
    return int(not result.success)


def _checkpoint_line(result: Any, record: Any) -> str:
    head = "checkpoint: " + ("" if result.success else f"FAILED (run {result.run_id}); ")
    if record is None:
        return head + "nothing registered by this run"
    first = record.loss_curve[0][1] if record.loss_curve else float("nan")
    return (head + f"{record.checkpoint_id} ({record.recipe}): {record.steps} steps on {record.train_rows} rows, "
            f"loss {first:.3f} -> {record.final_loss:.3f}; {record.path}")


def _run_evaluation(state: RunState) -> int:
    """Score the latest checkpoint and its base model on τ²-bench; returns 1 if the run failed."""
    from writ_dagster.core.evaluation_storage import read_scores
    from writ_dagster.definitions import EVALUATION_JOB

    result = _execute(state, EVALUATION_JOB)
    evaluation_id = _materialized(result, "evaluation", "evaluation_id")
    if evaluation_id is None:
        print(f"evaluation: FAILED (run {result.run_id}); nothing stored by this run")
        return 1
    with state.storage.connect(read_only=True) as con:
        scores = read_scores(con, evaluation_id)
    for stored in scores:
        print(_evaluation_line(stored.score))
    return int(not result.success)


def _evaluation_line(score: Any) -> str:
    passes = ", ".join(f"pass^{k} {v:.3f}" for k, v in sorted(score.figures.pass_k.items()))
    return (f"evaluation: {score.domain} {score.model_label}: {passes}; mean reward {score.figures.avg_reward:.3f}; "
            f"agent tokens/task {score.figures.avg_agent_completion_tokens:.0f} completion, "
            f"{score.figures.avg_agent_prompt_tokens:.0f} prompt; {score.figures.n_simulations} conversations; "
            f"{score.results_path}")


# `writ run` runs these in order, each while its stage is within --until (see STAGES).
STAGE_RUNNERS: list[tuple[str, Callable[[RunState], int]]] = [
    ("trajectories", _run_partitions),
    ("sft", _run_sft),
    ("checkpoint", _run_checkpoint),
    ("evaluation", _run_evaluation),
]


def _sft_line(result: Any, info: Any) -> str:
    head = "sft: " + ("" if result.success else f"FAILED (run {result.run_id}); ")
    if info is None:
        return head + "nothing stored by this run"
    dropped = ", ".join(f"{why} {n}" for why, n in info.dropped.items()) or "none"
    return (head + f"set {info.sft_version}: {info.n_train + info.n_validation} rows (train {info.n_train}, "
            f"validation {info.n_validation}) from {info.considered} trajectories, {len(info.cells)} cells, "
            f"dropped: {dropped}; files {info.directory}; checks: {_verdicts(result, 'sft_set')}")


def _verdicts(result: Any, asset: str) -> str:
    checks = {e.check_name.removeprefix(f"{asset}_"): e for e in result.get_asset_check_evaluations()
              if e.asset_key.to_user_string() == asset}
    return ", ".join(
        f"{name} {'ok' if e.passed else e.severity.value}" for name, e in sorted(checks.items())) or "none"


def _head(domain: str, batch: str, result: Any, asset: str, stored: Any) -> tuple[str, bool]:
    """The line's start, and whether this run stored the asset (else the line ends there)."""
    head = f"{domain}/{batch}: " + ("" if asset == "tasks" else f"{asset.replace('_', ' ')}: ")
    if not result.success:
        head += f"FAILED (run {result.run_id}); "
    return head, stored is not None and bool(result.asset_materializations_for_node(asset))


def _summary_line(domain: str, batch: str, result: Any, run: Any) -> str:
    head, ok = _head(domain, batch, result, "tasks", run)
    if not ok:
        return head + "nothing stored by this run"
    return (head + f"{run.n_tasks} tasks from {run.attempts} attempts ({run.n_rejections} rejected), "
            f"digest {run.content_digest}; checks: {_verdicts(result, 'tasks')}")


def _scripts_line(domain: str, batch: str, result: Any, run: Any) -> str:
    head, ok = _head(domain, batch, result, "user_scripts", run)
    if not ok:
        return head + "nothing stored by this run"
    figures = json.loads(run.figures_json)
    return (head + f"{run.n_rows} scripts for {figures.get('tasks', 0)} tasks ({figures.get('scripted', 0)} "
            f"scripted), digest {run.content_digest}; checks: {_verdicts(result, 'user_scripts')}")


def _trajectories_line(domain: str, batch: str, result: Any, run: Any) -> str:
    head, ok = _head(domain, batch, result, "trajectories", run)
    if not ok:
        return head + "nothing stored by this run"
    f = json.loads(run.figures_json)
    [mat] = result.asset_materializations_for_node("trajectories")
    simulated, kept = (mat.metadata[k].value for k in ("simulated_this_run", "kept_from_earlier_runs"))
    return (head + f"{run.n_rows} conversations ({simulated} simulated, {kept} kept), "
            f"success {100 * f.get('success_rate', 0.0):.1f}%, median {f.get('turns', {}).get('median', 0):g} "
            f"turns, digest {run.content_digest}; checks: {_verdicts(result, 'trajectories')}")


# -- writ export-tasks ---------------------------------------------------------------------

def cmd_export_tasks(args: argparse.Namespace) -> int:
    """Write stored tasks as a JSON list of τ²-bench Task dicts."""
    domain = check_domain(args.domain)
    partition = check_batch_key(args.partition) if args.partition else None
    with connect(duckdb_path(), read_only=True) as con:
        stored = stored_partitions(con, domain)
        if partition is not None and partition not in stored:
            have = ", ".join(stored) or "none"
            raise BadInput(f"partition {partition!r} of {domain} is not stored (stored: {have})")
        frame = tasks_frame(con, domain, partition)
    if frame.is_empty():
        raise BadInput(f"no stored tasks for {domain}" + (f"/{partition}" if partition else ""))
    tasks = [tau2_task_dict(json.loads(text)) for text in frame["task_json"]]
    _write_output(json.dumps(tasks, indent=2, ensure_ascii=False) + "\n", args.out, f"{len(tasks)} {domain} tasks")
    return EXIT_OK


def _write_output(text: str, target: str, what: str) -> None:
    """Write ``text`` to stdout (``-``) or atomically to a file, then say what was written on stderr."""
    if target == "-":
        sys.stdout.write(text)
        return
    out = Path(target)
    tmp = out.with_name(out.name + ".tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text)
        tmp.replace(out)  # a reader never sees half a file
    except OSError as exc:
        raise BadInput(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"wrote {what} to {out}", file=sys.stderr)


# -- writ export-trajectories --------------------------------------------------------------

def cmd_export_trajectories(args: argparse.Namespace) -> int:
    """Write a domain's stored, complete trajectory partitions as a τ²-bench results file."""
    from writ_dagster.core.storage import read_stage_run
    from writ_dagster.core.trajectory_storage import read_trajectories, trajectory_partitions

    domain = check_domain(args.domain)
    partition = check_batch_key(args.partition) if args.partition else None
    with connect(duckdb_path(), read_only=True) as con:
        stored = trajectory_partitions(con, domain)
        runs = {p: read_stage_run(con, "trajectories", domain, p) for p in stored}
        complete = [p for p in stored if runs[p] is not None]
        wanted = [partition] if partition else complete
        if partition is not None and partition not in stored:
            raise BadInput(f"no stored trajectories for partition {partition!r} of {domain} "
                           f"(stored: {', '.join(stored) or 'none'})")
        if partition is not None and runs[partition] is None:
            raise BadInput(f"trajectories of {domain}/{partition} are incomplete (an interrupted run); finish them "
                           f"with `writ run --domain {domain} --batch {partition}`")
        if not wanted:
            raise BadInput(f"no complete trajectory partitions for {domain}; run `writ run` first")
        records = [r for p in wanted for r in read_trajectories(con, domain, p)]
        frames = [tasks_frame(con, domain, p) for p in wanted]
    tasks = [json.loads(t) for f in frames for t in f["task_json"]]
    hashes = {tid: h for f in frames for tid, h in zip(f["task_id"], f["content_hash"])}
    stale = sorted({r.partition for r in records if hashes.get(r.task_id) != r.lineage.get("task_content_hash")})
    if stale:  # tasks re-made since: pairing them with these conversations would be wrong
        raise BadInput(f"trajectories of {domain}/{', '.join(stale)} were made from other tasks than those stored "
                       f"now; run `writ run --domain {domain} --batch {stale[0]}` to redo them")
    skipped = [] if partition else sorted(set(stored) - set(complete))
    if skipped:
        print(f"writ: skipped incomplete trajectory partitions of {domain}: {', '.join(skipped)}", file=sys.stderr)
    text = json.dumps(_tau2_results(domain, tasks, records, [runs[p] for p in wanted]), indent=2,
                      ensure_ascii=False) + "\n"
    _write_output(text, args.out, f"{len(records)} {domain} trajectories (tau2 results)")
    return EXIT_OK


def _tau2_results(domain: str, tasks: list[dict], records: list, runs: list) -> dict[str, Any]:
    from writ_dagster.core.domains.registry import get_domain
    from writ_dagster.core.simulation.settings import TrajectoryConfig
    from writ_dagster.core.simulation.tau2_results import tau2_results

    configs = [TrajectoryConfig.model_validate_json(r.config_json) for r in runs]
    seeds = {c.seed for c in configs}
    return tau2_results(domain, get_domain(domain).policy, tasks, records,
                        max_steps=max(c.max_steps for c in configs), max_errors=max(c.max_errors for c in configs),
                        seed=seeds.pop() if len(seeds) == 1 else None)


# -- writ export-sft ----------------------------------------------------------------------

def cmd_export_sft(args: argparse.Namespace) -> int:
    """Write a stored SFT set (default: the latest) as Parquet files and a dataset card into a folder."""
    from writ_dagster.core.sft.export import write_sft
    from writ_dagster.core.stages.sft import stored_build
    from writ_dagster.core.sft_storage import latest_sft_set, read_sft_set

    with connect(duckdb_path(), read_only=True) as con:
        info = read_sft_set(con, args.version) if args.version else latest_sft_set(con)
        if info is None:
            raise BadInput(f"no stored SFT set {args.version!r}" if args.version else
                           "no SFT set is stored; run `writ run` (or materialize `sft_set`) first")
        build = stored_build(con, info)
    out = Path(args.out)
    try:
        paths = write_sft(build, out)
        stale = out / "validation.parquet"
        if "validation" not in paths and stale.exists():
            stale.unlink()  # left by an earlier export of another set
    except OSError as exc:
        raise BadInput(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"wrote SFT set {info.sft_version} ({info.n_train} train, {info.n_validation} validation rows) "
          f"to {out}", file=sys.stderr)
    return EXIT_OK


# -- writ trace ----------------------------------------------------------------------------

def cmd_trace(args: argparse.Namespace) -> int:
    """Print the lineage chain of an SFT row or trajectory id."""
    from writ_dagster.core.lineage import BrokenChainError, UnknownIdError, format_chain, trace

    with connect(duckdb_path(), read_only=True) as con:
        try:
            chain = trace(con, args.id, resolve_entities=not args.no_db)
        except UnknownIdError as exc:
            raise BadInput(str(exc)) from None
        except BrokenChainError as exc:  # stored, but the data no longer holds together
            print(f"writ: error: {_one_line(exc)}", file=sys.stderr)
            return EXIT_FAILED
    print(chain.model_dump_json(indent=2) if args.json else format_chain(chain))
    return EXIT_OK


# -- writ dev ------------------------------------------------------------------------------

def cmd_dev(args: argparse.Namespace) -> int:
    """Start ``dagster dev`` on WRIT's definitions with WRIT's Dagster home (replaces this process)."""
    env = dict(os.environ, DAGSTER_HOME=str(ensure_dagster_home()), **{WRIT_HOME_ENV: str(writ_home())})
    argv = [sys.executable, "-m", "dagster", "dev", "-m", "writ_dagster.definitions", *args.dagster_args]
    print(f"DAGSTER_HOME={env['DAGSTER_HOME']}", file=sys.stderr)
    os.execvpe(argv[0], argv, env)
    return EXIT_FAILED  # not reached


# -- parser --------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The ``writ`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="writ", description=f"WRIT task and trajectory synthesis for τ²-bench. State lives in "
                                 f"${WRIT_HOME_ENV} (default ./.writ).")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="synthesize tasks, user scripts and trajectories for each domain × batch")
    run.add_argument("--domain", action="append", metavar="D", help=f"one of {', '.join(WRIT_DOMAINS)} "
                     "(repeatable; default: all)")
    run.add_argument("--batch", action="append", metavar="KEY", help=f"batch partition key (repeatable; "
                     f"default {DEFAULT_BATCH}); missing keys are added")
    run.add_argument("--tasks-per-batch", type=int, metavar="N")
    run.add_argument("--seed", type=int, metavar="S")
    run.add_argument("--min-writes", type=int, metavar="N")
    run.add_argument("--max-writes", type=int, metavar="N")
    run.add_argument("--max-attempts-per-task", type=int, metavar="N")
    run.add_argument("--config", metavar="FILE", help="JSON or YAML file of SynthesisConfig fields "
                     f"(and upstream_tasks_dir, default ${UPSTREAM_ENV}; and a `simulation` mapping of "
                     "simulation settings, and `sft`, `training`, `evaluation` mappings of those stages' settings); "
                     "flags override it")
    sim = run.add_argument_group("user scripts and trajectories")
    sim.add_argument("--variants", type=int, metavar="N", help="user scripts per task, canonical included "
                     "(default 2)")
    sim.add_argument("--simulation-seed", type=int, metavar="S", help="seed of user scripts and conversations")
    sim.add_argument("--agent-backend", metavar="NAME", help="registered agent backend (default scripted-oracle)")
    sim.add_argument("--user-backend", metavar="NAME", help="registered user backend (default scripted-user)")
    sim.add_argument("--max-concurrency", type=int, metavar="N", help="conversations in flight at once")
    sim.add_argument("--workers", type=int, metavar="N", help="worker processes for scripted backends (default 1)")
    sim.add_argument("--fresh", action="store_true", help="re-simulate every trajectory instead of resuming")
    run.add_argument("--until", choices=STAGES, default=STAGES[-1],
                     help="last stage to materialize (default: %(default)s, the whole graph; checkpoint and "
                          "evaluation need the `llm` extra)")
    run.add_argument("-v", "--verbose", action="store_true", help="show Dagster's run log")
    run.set_defaults(func=cmd_run)

    export = sub.add_parser("export-tasks", help="write stored tasks as a JSON list of τ²-bench Tasks")
    export.add_argument("--domain", required=True, metavar="D")
    export.add_argument("--partition", metavar="KEY", help="one batch (default: all stored batches)")
    export.add_argument("--out", required=True, metavar="FILE", help="output file, or - for stdout")
    export.set_defaults(func=cmd_export_tasks)

    export_t = sub.add_parser("export-trajectories", help="write stored trajectories as a τ²-bench results file")
    export_t.add_argument("--domain", required=True, metavar="D")
    export_t.add_argument("--partition", metavar="KEY", help="one batch (default: every complete batch)")
    export_t.add_argument("--format", choices=["tau2"], default="tau2",
                          help="tau2: the results JSON of `tau2 run`, read by tau2's Results.load")
    export_t.add_argument("--out", required=True, metavar="FILE", help="output file, or - for stdout")
    export_t.set_defaults(func=cmd_export_trajectories)

    export_s = sub.add_parser("export-sft", help="write a stored SFT set as Parquet files and a dataset card")
    export_s.add_argument("--out", required=True, metavar="DIR", help="output folder (train.parquet, "
                          "validation.parquet, README.md)")
    export_s.add_argument("--version", metavar="V", help="SFT set version (default: the latest)")
    export_s.set_defaults(func=cmd_export_sft)

    trace_p = sub.add_parser("trace", help="print where an SFT row or trajectory came from")
    trace_p.add_argument("id", metavar="ID", help="an SFT row id '<sft_version>/<trajectory_id>' or a trajectory id")
    trace_p.add_argument("--json", action="store_true", help="machine-readable output")
    trace_p.add_argument("--no-db", action="store_true", help="do not look the task's entities up in the "
                         "domain DB (skips loading τ²-bench)")
    trace_p.set_defaults(func=cmd_trace)

    dev = sub.add_parser("dev", help="open the Dagster UI on WRIT's definitions and run history")
    dev.set_defaults(func=cmd_dev, passthrough=True)  # any further arguments go to `dagster dev`
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``writ`` console script; returns the exit code."""
    # Partitioned asset checks and multi→single partition mappings are marked beta/preview.
    warnings.filterwarnings("ignore", message=r".*(is currently in (beta|preview)).*")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.dagster_args = extra
    from writ_dagster.core.domains.registry import UnknownDomainError
    from writ_dagster.core.tasks.synthesis import ImpossibleConfigError

    try:
        return args.func(args)
    except (BadInput, BadKeyError, StorageError, ValidationError, ImpossibleConfigError, UnknownDomainError) as exc:
        print(f"writ: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
