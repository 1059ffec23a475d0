"""The ``writ`` command: run the pipeline into WRIT_HOME, export tasks, open the Dagster UI.

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
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from writ_dagster.core.home import (
    UPSTREAM_ENV,
    WRIT_HOME_ENV,
    dagster_home,
    duckdb_path,
    upstream_tasks_dir,
    writ_home,
)
from writ_dagster.core.keys import DEFAULT_BATCH, WRIT_DOMAINS, BadKeyError, check_batch_key, check_domain
from writ_dagster.core.storage import StorageError, check_db_file, connect, stored_partitions, tasks_frame

if TYPE_CHECKING:
    from writ_dagster.resources.synthesis import SynthesisSettings

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
_CONFIG_FLAGS = ("tasks_per_batch", "seed", "min_writes", "max_writes", "max_attempts_per_task")


class BadInput(Exception):
    """A command-line input WRIT refuses (reported as one line, exit code 2)."""


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "config"
            parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
        return "invalid synthesis config: " + "; ".join(parts)
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
    return data


def _settings(args: argparse.Namespace, domains: list[str]) -> SynthesisSettings:
    """Synthesis settings from --config and flags, validated against every chosen domain's composer."""
    from writ_dagster.core.tasks.composers import get_composer
    from writ_dagster.core.tasks.models import SynthesisConfig
    from writ_dagster.core.tasks.synthesis import check_config
    from writ_dagster.resources.synthesis import SynthesisSettings

    fields = _load_config_file(args.config)
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


def cmd_run(args: argparse.Namespace) -> int:
    """Materialize the catalogue and the tasks (with their checks) of each domain × batch."""
    domains = list(dict.fromkeys(check_domain(d) for d in (args.domain or WRIT_DOMAINS)))
    batches = list(dict.fromkeys(check_batch_key(b) for b in (args.batch or [DEFAULT_BATCH])))
    settings = _settings(args, domains)
    database = duckdb_path()
    check_db_file(database)
    # Validation is done: from here on things get written.
    import dagster as dg

    from writ_dagster.core.home import ensure_dagster_home
    from writ_dagster.core.storage import read_partition_run
    from writ_dagster.definitions import CATALOGUE_JOB, TASKS_JOB, build_definitions
    from writ_dagster.partitions import domain_batch_key, ensure_batches
    from writ_dagster.resources.storage import WritStorage

    storage = WritStorage(database=str(database))
    with storage.connect():
        pass  # create the file and tables now, so a locked or incompatible file fails early
    failed = 0
    with dg.DagsterInstance.from_config(str(ensure_dagster_home())) as instance:
        ensure_batches(instance, batches)
        defs = build_definitions(storage, settings)
        run_config = {} if args.verbose else {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        tags = {"writ/source": "cli"}
        for domain in domains:
            result = defs.resolve_job_def(CATALOGUE_JOB).execute_in_process(
                run_config=run_config, instance=instance, partition_key=domain, raise_on_error=False, tags=tags)
            print(f"{domain}: catalogue {'ok' if result.success else f'FAILED (run {result.run_id})'}")
            failed += not result.success
            for batch in batches:
                result = defs.resolve_job_def(TASKS_JOB).execute_in_process(
                    run_config=run_config, instance=instance, partition_key=domain_batch_key(domain, batch),
                    raise_on_error=False, tags=tags)
                with storage.connect(read_only=True) as con:
                    run = read_partition_run(con, domain, batch)
                print(_summary_line(domain, batch, result, run))
                failed += not result.success
    print(f"database: {database}\ndagster home: {dagster_home()}")
    return EXIT_FAILED if failed else EXIT_OK


def _summary_line(domain: str, batch: str, result: Any, run: Any) -> str:
    checks = {e.check_name.removeprefix("tasks_"): e for e in result.get_asset_check_evaluations()}
    verdicts = ", ".join(
        f"{name} {'ok' if e.passed else e.severity.value}" for name, e in sorted(checks.items())) or "none"
    head = f"{domain}/{batch}: "
    if not result.success:
        head += f"FAILED (run {result.run_id}); "
    if run is None or not result.asset_materializations_for_node("tasks"):
        return head + "nothing stored by this run"
    return (head + f"{run.n_tasks} tasks from {run.attempts} attempts ({run.n_rejections} rejected), "
            f"digest {run.content_digest}; checks: {verdicts}")


# -- writ export-tasks ---------------------------------------------------------------------

def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


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
    tasks = [_drop_none(json.loads(text)) for text in frame["task_json"]]
    text = json.dumps(tasks, indent=2, ensure_ascii=False) + "\n"
    if args.out == "-":
        sys.stdout.write(text)
    else:
        out = Path(args.out)
        tmp = out.with_name(out.name + ".tmp")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(text)
            tmp.replace(out)  # a reader never sees half a file
        except OSError as exc:
            raise BadInput(f"cannot write {out}: {exc.strerror or exc}") from None
        print(f"wrote {len(tasks)} {domain} tasks to {out}", file=sys.stderr)
    return EXIT_OK


# -- writ dev ------------------------------------------------------------------------------

def cmd_dev(args: argparse.Namespace) -> int:
    """Start ``dagster dev`` on WRIT's definitions with WRIT's Dagster home (replaces this process)."""
    from writ_dagster.core.home import ensure_dagster_home

    env = dict(os.environ, DAGSTER_HOME=str(ensure_dagster_home()), **{WRIT_HOME_ENV: str(writ_home())})
    argv = [sys.executable, "-m", "dagster", "dev", "-m", "writ_dagster.definitions", *args.dagster_args]
    print(f"DAGSTER_HOME={env['DAGSTER_HOME']}", file=sys.stderr)
    os.execvpe(argv[0], argv, env)
    return EXIT_FAILED  # not reached


# -- parser --------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The ``writ`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="writ", description=f"WRIT task synthesis for τ²-bench. State lives in ${WRIT_HOME_ENV} (default ./.writ).")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="synthesize, store and check tasks for each domain × batch")
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
                     f"(and upstream_tasks_dir; default ${UPSTREAM_ENV}); flags override it")
    run.add_argument("-v", "--verbose", action="store_true", help="show Dagster's run log")
    run.set_defaults(func=cmd_run)

    export = sub.add_parser("export-tasks", help="write stored tasks as a JSON list of τ²-bench Tasks")
    export.add_argument("--domain", required=True, metavar="D")
    export.add_argument("--partition", metavar="KEY", help="one batch (default: all stored batches)")
    export.add_argument("--out", required=True, metavar="FILE", help="output file, or - for stdout")
    export.set_defaults(func=cmd_export_tasks)

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
