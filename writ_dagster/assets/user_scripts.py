"""The ``user_scripts`` asset: how each task's user behaves, several checked ways per task."""

# No `from __future__ import annotations`: Dagster inspects the context annotation at definition time.
import dagster as dg

from writ_dagster.assets.metadata import counts_markdown, home_path
from writ_dagster.assets.tasks import tasks
from writ_dagster.core.stages.user_scripts import Rewriter, run_user_scripts
from writ_dagster.core.versioning import code_version
from writ_dagster.partitions import domain_batch_partitions, split_key
from writ_dagster.resources.roles import ModelRole
from writ_dagster.resources.simulation import SimulationSettings
from writ_dagster.resources.storage import WritStorage

USER_SCRIPTS_TABLE = "user_scripts"


@dg.asset(
    partitions_def=domain_batch_partitions,
    deps=[tasks],
    group_name="trajectories",
    kinds={"duckdb", "python"},
    code_version=code_version(),
    description=(
        "User behaviour scripts for one domain × batch: per task, variant 0 (the canonical instruction) "
        "and `variants - 1` scripted variants that change how the user opens, discloses, orders and "
        "words the same requests, their tone, and one corrected slip, never the facts. Every script "
        "passes the script checker (every needed fact kept, no evidence leaked). With a `user_rewriter` "
        "model (off by default), each scripted variant's instruction is rewritten in its persona and words, "
        "kept only where the checker accepts it, else the rule-based variant stays (both counted). Rows in "
        "the `user_scripts` table, replaced per partition."
    ),
)
def user_scripts(
    context: dg.AssetExecutionContext, storage: WritStorage, simulation: SimulationSettings, user_rewriter: ModelRole
) -> dg.MaterializeResult:
    """Make and store the partition's scripts from its stored tasks (rewritten by a model if one is set)."""
    domain, batch = split_key(context.partition_key)
    config = simulation.trajectory_config()  # bad settings fail here, before anything is written
    factory = user_rewriter.backend_factory()
    rewriter = None
    if factory is not None:
        rewriter = Rewriter(backend=factory(), recorded=dict(zip(("backend", "options"), user_rewriter.recorded())))
    with storage.connect() as con:
        run, _, figures = run_user_scripts(con, domain, batch, config, rewriter)
    context.log.info(f"{domain}/{batch}: {run.n_rows} user scripts for {figures['tasks']} tasks")
    dims = figures["dimensions"]
    rewrite = {
        k: (dg.MetadataValue.json(v) if isinstance(v, dict) else v)
        for k, v in figures.items()
        if k.startswith("rewrite_")
    }
    return dg.MaterializeResult(
        metadata={
            "dagster/partition_row_count": run.n_rows,
            "dagster/table_name": f"writ.main.{USER_SCRIPTS_TABLE}",
            "scripts": run.n_rows,
            "tasks": figures["tasks"],
            "scripted_variants": figures["scripted"],
            "variants_per_task": config.variants,
            "seed": config.seed,
            **{
                f"dimension_{name}": dg.MetadataValue.md(counts_markdown(dims.get(name, {}), name))
                for name in ("disclosure", "opening", "tone", "verbosity", "order", "slip")
            },
            "rewriter": user_rewriter.kind,
            **rewrite,
            "content_digest": run.content_digest,
            "code_version": run.code_version,
            "database": home_path(storage.path),
        },
        data_version=dg.DataVersion(run.content_digest),
    )
