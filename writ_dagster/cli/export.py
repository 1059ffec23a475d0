"""``writ export-tasks``, ``export-trajectories`` and ``export-sft``: stored rows written as files
other tools read (τ²-bench Tasks, a τ²-bench results file, Parquet files and a dataset card)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, cast

from writ_dagster.cli.errors import EXIT_OK, BadInput
from writ_dagster.cli.output import sft_out_dir, write_out_file
from writ_dagster.core.folders import staging_dir
from writ_dagster.core.home import duckdb_path
from writ_dagster.core.keys import check_batch_key, check_domain
from writ_dagster.core.sft.export import write_sft
from writ_dagster.core.storage.runs import stored_partitions
from writ_dagster.core.storage.schema import check_db_complete, connect
from writ_dagster.core.storage.sft import latest_sft_set, read_sft_set
from writ_dagster.core.storage.tasks import frame_records, tasks_frame
from writ_dagster.core.tasks.models import exported_task

if TYPE_CHECKING:
    from writ_dagster.core.storage.runs import StageRun


def cmd_export_tasks(args: argparse.Namespace) -> int:
    """Write stored tasks as a JSON list of τ²-bench Task dicts."""
    domain = check_domain(args.domain)
    partition = check_batch_key(args.partition) if args.partition else None
    check_db_complete(duckdb_path())
    with connect(duckdb_path(), read_only=True) as con:
        stored = stored_partitions(con, domain)
        if partition is not None and partition not in stored:
            have = ", ".join(stored) or "none"
            raise BadInput(f"partition {partition!r} of {domain} is not stored (stored: {have})")
        frame = tasks_frame(con, domain, partition)
    if frame.is_empty():
        raise BadInput(f"no stored tasks for {domain}" + (f"/{partition}" if partition else ""))
    tasks = [exported_task(record) for record in frame_records(frame)]
    _write_output(json.dumps(tasks, indent=2, ensure_ascii=False) + "\n", args.out, f"{len(tasks)} {domain} tasks")
    return EXIT_OK


def _write_output(text: str, target: str, what: str) -> None:
    """Write ``text`` to stdout (``-``) or to a file (see ``output``), then say what was written on stderr."""
    if target == "-":
        sys.stdout.write(text)
        return
    out = write_out_file(text, target)
    print(f"wrote {what} to {out}", file=sys.stderr)


def cmd_export_trajectories(args: argparse.Namespace) -> int:
    """Write a domain's stored, complete trajectory partitions as a τ²-bench results file."""
    # Imported here: trajectory records load τ²-bench (seconds), which the other exports do without.
    from writ_dagster.core.stages.export import (
        read_stored_trajectories,
        stale_partitions,
        trajectory_partition_runs,
        trajectory_results,
    )

    domain = check_domain(args.domain)
    partition = check_batch_key(args.partition) if args.partition else None
    check_db_complete(duckdb_path())
    with connect(duckdb_path(), read_only=True) as con:
        partitions = trajectory_partition_runs(con, domain)
        stored, runs = partitions.stored, partitions.runs
        wanted = [partition] if partition else partitions.complete
        if partition is not None and partition not in stored:
            raise BadInput(
                f"no stored trajectories for partition {partition!r} of {domain} "
                f"(stored: {', '.join(stored) or 'none'})"
            )
        if partition is not None and runs[partition] is None:
            raise BadInput(
                f"trajectories of {domain}/{partition} are incomplete (an interrupted run); finish them "
                f"with `writ run --domain {domain} --batch {partition}`"
            )
        if not wanted:
            raise BadInput(f"no complete trajectory partitions for {domain}; run `writ run` first")
        trajectories = read_stored_trajectories(con, domain, wanted)
    stale = stale_partitions(trajectories)
    if stale:  # tasks re-made since: pairing them with these conversations would be wrong
        raise BadInput(
            f"trajectories of {domain}/{', '.join(stale)} were made from other tasks than those stored "
            f"now; run `writ run --domain {domain} --batch {stale[0]}` to redo them"
        )
    skipped = [] if partition else partitions.incomplete
    if skipped:
        print(f"writ: skipped incomplete trajectory partitions of {domain}: {', '.join(skipped)}", file=sys.stderr)
    complete_runs = cast("list[StageRun]", [runs[p] for p in wanted])  # each wanted partition is complete
    text = json.dumps(trajectory_results(domain, trajectories, complete_runs), indent=2, ensure_ascii=False) + "\n"
    _write_output(text, args.out, f"{len(trajectories.records)} {domain} trajectories (tau2 results)")
    return EXIT_OK


def cmd_export_sft(args: argparse.Namespace) -> int:
    """Write a stored SFT set (default: the latest) as Parquet files and a dataset card into a folder."""
    # Imported here: rebuilding a stored set loads τ²-bench (seconds), which the other exports do without.
    from writ_dagster.core.stages.sft import stored_build

    out = sft_out_dir(args.out)  # checked before the set is rebuilt (seconds)
    check_db_complete(duckdb_path())
    with connect(duckdb_path(), read_only=True) as con:
        info = read_sft_set(con, args.version) if args.version else latest_sft_set(con)
        if info is None:
            raise BadInput(
                f"no stored SFT set {args.version!r}"
                if args.version
                else "no SFT set is stored; run `writ run` (or materialize `sft_set`) first"
            )
        build = stored_build(con, info)
    try:
        with staging_dir(out) as tmp:  # written whole: a failed export leaves the old folder, no partial one
            write_sft(build, tmp)
    except OSError as exc:
        raise BadInput(f"cannot write {out}: {exc.strerror or exc}") from None
    print(
        f"wrote SFT set {info.sft_version} ({info.n_train} train, {info.n_validation} validation rows) to {out}",
        file=sys.stderr,
    )
    return EXIT_OK
