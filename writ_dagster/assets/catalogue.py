"""The ``domain_catalogue`` asset: what a domain offers an agent and the synthesizer."""

# No `from __future__ import annotations`: Dagster inspects the context annotation at definition time.
import dagster as dg

from writ_dagster.assets.metadata import counts_markdown, home_path
from writ_dagster.core.domains.catalogue import describe_domain
from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.storage.tasks import write_catalogue
from writ_dagster.core.versioning import code_version
from writ_dagster.partitions import domain_partitions
from writ_dagster.resources.storage import WritStorage


@dg.asset(
    partitions_def=domain_partitions,
    group_name="catalogue",
    kinds={"duckdb", "python"},
    code_version=code_version(),
    description=(
        "One τ²-bench domain's policy, agent tools (tau2 type and OpenAI function schema), DB table "
        "sizes and base-task count, stored in the `domain_catalogue` and `domain_info` tables."
    ),
)
def domain_catalogue(context: dg.AssetExecutionContext, storage: WritStorage) -> dg.MaterializeResult:
    """Describe the partition's domain and replace its catalogue rows."""
    catalogue = describe_domain(get_domain(context.partition_key))
    with storage.connect() as con:
        write_catalogue(con, catalogue)
    tools = "\n".join(["| tool | type |", "|---|---|"] + [f"| {t.name} | {t.type} |" for t in catalogue.tools])
    return dg.MaterializeResult(
        metadata={
            "policy_chars": catalogue.policy_chars,
            "policy_sha256": catalogue.policy_sha256,
            "tools": dg.MetadataValue.md(tools),
            "tool_types": dg.MetadataValue.json(catalogue.tool_counts()),
            "db_tables": dg.MetadataValue.md(counts_markdown(catalogue.tables, "table", "rows")),
            "base_tasks": catalogue.base_tasks,
            "tau2_version": catalogue.tau2_version,
            "database": home_path(storage.path),
        },
        data_version=dg.DataVersion(catalogue.digest()),
    )
