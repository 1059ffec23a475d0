"""The ``tasks`` asset: one domain × batch partition of verified WRIT tasks."""

# No `from __future__ import annotations`: Dagster inspects the context annotation at definition time.
from collections import Counter

import dagster as dg

from writ_dagster.assets.catalogue import domain_catalogue
from writ_dagster.assets.metadata import Metadata, counts_markdown, home_path
from writ_dagster.core.plots import axes_heatmaps, md_image
from writ_dagster.core.stages.tasks import run_tasks
from writ_dagster.core.storage.runs import PartitionRun
from writ_dagster.core.tasks.models import BatchResult
from writ_dagster.core.tasks.reporting import (
    joint_table_markdown,
    rejection_counts,
    write_tool_counts,
)
from writ_dagster.core.tasks.synthesis import summarize
from writ_dagster.core.tasks.variety import distinct_masked_share, task_instructions_of
from writ_dagster.core.versioning import code_version
from writ_dagster.partitions import domain_batch_partitions, split_key
from writ_dagster.resources.storage import WritStorage
from writ_dagster.resources.synthesis import SynthesisSettings

TASKS_TABLE = "tasks"


@dg.asset(
    partitions_def=domain_batch_partitions,
    # Each tasks partition reads its own domain's catalogue partition.
    deps=[
        dg.AssetDep(
            domain_catalogue,
            partition_mapping=dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="domain"),
        )
    ],
    group_name="tasks",
    kinds={"duckdb", "python"},
    code_version=code_version(),
    description=(
        "Verified WRIT tasks for one domain × batch: τ²-bench Tasks whose gold plans were executed, "
        "scored 1.0 and measured on both axes (write decisions, reads of evidence per write), and "
        "checked against the base tasks. Rows in the `tasks`, `task_rejections` and `partition_runs` "
        "tables; re-materializing a partition replaces exactly its rows with identical ones."
    ),
)
def tasks(
    context: dg.AssetExecutionContext, storage: WritStorage, synthesis: SynthesisSettings
) -> dg.MaterializeResult:
    """Synthesize the batch, replace the partition's rows, and report what it holds."""
    domain, batch = split_key(context.partition_key)
    stored = run_tasks(storage.connect, domain, batch, synthesis.synthesis_config(), synthesis.upstream_dir())
    result, run = stored.result, stored.run
    context.log.info(f"{domain}/{batch}: {run.n_tasks} tasks from {run.attempts} attempts")
    return dg.MaterializeResult(
        metadata=task_metadata(result, run, str(storage.path)), data_version=dg.DataVersion(run.content_digest)
    )


def task_metadata(result: BatchResult, run: PartitionRun, database: str) -> Metadata:
    """The figures the UI shows for a tasks partition."""
    figures = summarize(result.tasks)
    n = len(result.tasks)
    cells = Counter((r.axes.writes, r.axes.max_reads_before_write) for r in result.tasks)
    where = f"{result.tasks[0].domain}/{result.tasks[0].partition}" if result.tasks else "no tasks"
    domain = result.tasks[0].domain if result.tasks else "none"
    return {
        "plot_writes_x_reads": dg.MetadataValue.md(
            md_image(axes_heatmaps({domain: cells}, f"{where}: tasks by writes × reads"), "tasks by writes and reads")
        ),
        # one series per domain in the Plots tab (a shared key would draw one line across both domains)
        f"{domain}_tasks": n,
        f"{domain}_share_ge3_writes": figures.get("share_ge3_writes", 0.0),
        f"{domain}_share_ge6_reads_before_a_write": figures.get("share_ge6_reads_before_a_write", 0.0),
        f"{domain}_share_with_refusal": figures.get("share_with_refusal", 0.0),
        "dagster/partition_row_count": n,
        "dagster/table_name": f"writ.main.{TASKS_TABLE}",
        "tasks": n,
        "attempts": result.attempts,
        "acceptance_rate": round(n / result.attempts, 4) if result.attempts else 0.0,
        "rejections": len(result.rejections),
        "rejection_reasons": dg.MetadataValue.md(counts_markdown(rejection_counts(result.rejections), "reason")),
        "writes_x_evidence": dg.MetadataValue.md(joint_table_markdown(result.tasks)),
        "write_tools": dg.MetadataValue.md(counts_markdown(write_tool_counts(result.tasks), "write tool")),
        "families": dg.MetadataValue.md(counts_markdown(figures.get("families", {}), "family")),
        "share_with_refusal": figures.get("share_with_refusal", 0.0),
        "share_beyond_writes": figures.get("share_beyond_writes", 0.0),
        "share_ge3_writes": figures.get("share_ge3_writes", 0.0),
        "share_ge6_reads_before_a_write": figures.get("share_ge6_reads_before_a_write", 0.0),
        # Distinct instruction sentences once ids, numbers, emails and names are masked (README).
        "instruction_distinct_masked_share": distinct_masked_share(task_instructions_of(r.task) for r in result.tasks),
        "summary": dg.MetadataValue.json(figures),
        "content_digest": run.content_digest,
        "config_hash": run.config_hash,
        "code_version": run.code_version,
        "database": home_path(database),
    }
