"""The ``sft_set`` asset: every stored trajectory partition curated into one SFT set, with lineage checks."""

# No `from __future__ import annotations`: Dagster inspects the context annotation at definition time.
from collections import Counter

import dagster as dg

from writ_dagster.assets.checks import check_result
from writ_dagster.assets.metadata import (
    Metadata,
    counts_markdown,
    home_path,
    quality_metadata,
    samples_metadata,
)
from writ_dagster.assets.trajectories import trajectories
from writ_dagster.core.audit_report import AuditReport
from writ_dagster.core.plots import axes_heatmaps, md_image
from writ_dagster.core.sft.compliance import policy_counts
from writ_dagster.core.sft.export import length_section
from writ_dagster.core.sft.filters import every_filter
from writ_dagster.core.stages.sft import SFTResult, recipe_limit, run_sft
from writ_dagster.core.storage.lineage import tasks_in_both_splits, unresolved_rows
from writ_dagster.core.storage.sft import SFTSetInfo, latest_sft_set
from writ_dagster.core.storage.trajectories import sample_trajectories
from writ_dagster.core.versioning import code_version
from writ_dagster.resources.sft import SFTSettings
from writ_dagster.resources.storage import WritStorage
from writ_dagster.resources.training import TrainingSettings
from writ_dagster.schedules import sft_automation


@dg.asset(
    # Unpartitioned, reading every partition of `trajectories`.
    deps=[dg.AssetDep(trajectories, partition_mapping=dg.AllPartitionMapping())],
    group_name="sft",
    automation_condition=sft_automation(),  # rebuilt once each new batch's trajectories have all landed
    kinds={"duckdb", "parquet", "python"},
    code_version=code_version(),
    description=(
        "One SFT set from every complete trajectories partition: reward, tool-call and length filters, "
        "near-duplicates (same gold plan and user wording), τ²-bench decontamination, rows longer than the "
        "training recipe's max_length in its own tokens (left in, and said, where its tokenizer is not at hand), "
        "a mixture per "
        "domain × trajectory_type × user script, and a train/validation split by task. Parquet files and "
        "a dataset card in $WRIT_HOME/sft/<sft_version>/ (columns as WRIT-2K, plus lineage ids); rows "
        "in `sft_rows`, lineage queryable in the `sft_lineage` view. Its data version is the set's version."
    ),
)
def sft_set(
    context: dg.AssetExecutionContext, storage: WritStorage, sft: SFTSettings, training: TrainingSettings
) -> dg.MaterializeResult:
    """Build, write and store the SFT set of everything stored, for the training recipe."""
    config = sft.sft_config()  # bad settings fail here, before anything is written
    recipe = training.training_recipe()
    # the recipe's tokenizer (the tiny base is built, a hub model's looked up) before the database is opened
    limit = recipe_limit(recipe, training.models_dir, log=context.log.info)
    with storage.connect() as con:
        result = run_sft(con, config, sft.root, limit)
        samples = sample_trajectories(con, sft_version=result.info.sft_version)
    info = result.info
    context.log.info(
        f"SFT set {info.sft_version}: {info.n_train} train and {info.n_validation} validation rows "
        f"from {info.considered} trajectories, in {info.directory}"
    )
    if info.lengths is not None:
        (context.log.info if info.lengths.counted else context.log.warning)(info.lengths.line())
    if result.incomplete_partitions:
        context.log.warning("left out incomplete trajectory partitions: " + ", ".join(result.incomplete_partitions))
    return dg.MaterializeResult(
        metadata=sft_metadata(result, str(storage.path)) | samples_metadata(samples) | _axes_metadata(result),
        data_version=dg.DataVersion(info.sft_version),
    )


def sft_metadata(result: SFTResult, database: str) -> Metadata:
    """The figures the UI shows for an SFT set."""
    info = result.info
    return {
        "dagster/row_count": info.n_train + info.n_validation,
        "dagster/table_name": "writ.main.sft_rows",
        "sft_version": info.sft_version,
        "rows_train": info.n_train,
        "rows_validation": info.n_validation,
        "trajectories_considered": info.considered,
        "dropped_total": sum(info.dropped.values()),
        "dropped": dg.MetadataValue.md(counts_markdown(every_filter(info.dropped), "filter", "trajectories")),
        "dropped_by_filter": dg.MetadataValue.json(info.dropped),
        **(
            {
                "policy_compliance": dg.MetadataValue.md(
                    counts_markdown(policy_counts(info.dropped), "rule broken", "trajectories")
                )
            }
            if info.config().policy_filter
            else {}
        ),
        **length_metadata(info),
        "cells": dg.MetadataValue.json(info.cells),
        "cells_table": dg.MetadataValue.md(counts_markdown(info.cells, "cell", "rows")),
        "incomplete_partitions_left_out": dg.MetadataValue.json(result.incomplete_partitions),
        "path": home_path(info.directory),
        "config_hash": info.config_hash,
        "config": dg.MetadataValue.json(info.config().model_dump(mode="json")),
        "trajectories_digest": info.trajectories_digest,
        "code_version": info.code_version,
        "database": home_path(database),
        **quality_metadata(result.quality),
    }


def _axes_metadata(result: SFTResult) -> Metadata:
    """The set's rows on WRIT's two axes, one heatmap per domain, and the row count per domain (one Plots
    tab series each)."""
    panels: dict[str, Counter[tuple[int, int]]] = {}
    for r in result.build.rows:
        panels.setdefault(r.domain, Counter())[(r.writes or 0, r.max_reads_before_write or 0)] += 1
    return {
        "plot_writes_x_reads": dg.MetadataValue.md(
            md_image(
                axes_heatmaps(
                    dict(sorted(panels.items())), f"SFT set {result.info.sft_version}: rows by writes × reads", "rows"
                ),
                "SFT rows by writes and reads, per domain",
            )
        ),
        **{f"{domain}_rows": sum(cells.values()) for domain, cells in sorted(panels.items())},
    }


def length_metadata(info: SFTSetInfo) -> Metadata:
    """The rows' lengths under the training recipe the set was built for (tokens, or why not counted)."""
    lengths = info.lengths
    if lengths is None:
        return {}
    figures = lengths.rows.model_dump() if lengths.rows is not None else {}
    return {
        "token_lengths": lengths.line(),
        "token_lengths_counted": lengths.counted,
        "training_recipe": lengths.recipe,
        "max_length_tokens": lengths.max_length,
        **({f"tokens_{k}": figures[k] for k in ("min", "median", "p90", "p99", "max")} if figures else {}),
        **(
            {
                "rows_over_max_length_dropped": lengths.dropped,
                "rows_over_max_length_kept": lengths.rows.over_limit if lengths.rows else 0,
            }
            if lengths.counted
            else {}
        ),
        "lengths": dg.MetadataValue.json(lengths.model_dump(mode="json")),
        "lengths_table": dg.MetadataValue.md("\n".join(length_section(lengths)[2:])),
    }


@dg.asset_check(
    asset=sft_set,
    blocking=True,
    description="Every row of the latest SFT set resolves in SQL (the `sft_lineage` view) through "
    "its trajectory and user script to its task, with the content hashes the "
    "conversation was simulated from.",
)
def sft_lineage_resolves(storage: WritStorage) -> dg.AssetCheckResult:
    """Look every row of the latest set up in the lineage view."""
    with storage.connect(read_only=True) as con:
        info = latest_sft_set(con)
        if info is None:
            return dg.AssetCheckResult(passed=False, metadata={"details": "no SFT set is stored"})
        missing = unresolved_rows(con, info.sft_version)
    rows = info.n_train + info.n_validation
    report = AuditReport(
        passed=not missing,
        problems=[f"{r}: no chain to trajectory, script and task" for r in missing],
        figures={"sft_version": info.sft_version, "rows": rows, "resolved": rows - len(missing)},
    )
    return check_result(report)


@dg.asset_check(
    asset=sft_set,
    blocking=True,
    description="No task has rows in both the train and the validation split of the latest SFT set.",
)
def sft_split_by_task(storage: WritStorage) -> dg.AssetCheckResult:
    """Find tasks whose rows fall in more than one split."""
    with storage.connect(read_only=True) as con:
        info = latest_sft_set(con)
        if info is None:
            return dg.AssetCheckResult(passed=False, metadata={"details": "no SFT set is stored"})
        both = tasks_in_both_splits(con, info.sft_version)
    report = AuditReport(
        passed=not both,
        problems=[f"task {t} is in both splits" for t in both],
        figures={"sft_version": info.sft_version, "tasks_in_both_splits": len(both)},
    )
    return check_result(report)


sft_checks = [sft_lineage_resolves, sft_split_by_task]
