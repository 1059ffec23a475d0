"""The ``trajectories`` asset: every (task, user script) conversation simulated, scored and stored."""

# No `from __future__ import annotations`: Dagster inspects the context annotation at definition time.
import dagster as dg

from writ_dagster.assets.metadata import (
    Metadata,
    counts_markdown,
    home_path,
    quality_metadata,
    samples_metadata,
)
from writ_dagster.assets.user_scripts import user_scripts
from writ_dagster.core.plots import axes_heatmaps, md_image
from writ_dagster.core.progress import Progress
from writ_dagster.core.simulation.summary import distribution_markdown
from writ_dagster.core.stages.trajectories import TrajectoryRun, run_trajectories
from writ_dagster.core.storage.trajectories import (
    pass_rate_by_axes,
    sample_trajectories,
)
from writ_dagster.core.versioning import code_version
from writ_dagster.instance import GPU_POOL
from writ_dagster.partitions import domain_batch_partitions, split_key
from writ_dagster.resources.roles import ModelRole, trajectory_backends
from writ_dagster.resources.simulation import SimulationSettings
from writ_dagster.resources.storage import WritStorage

TRAJECTORIES_TABLE = "trajectories"
PROGRESS_STEPS = 20  # progress lines in the run log per partition


@dg.asset(
    partitions_def=domain_batch_partitions,
    deps=[user_scripts],
    group_name="trajectories",
    # a teacher or user model served for the run holds GPUs: never beside training or evaluation
    pool=GPU_POOL,
    kinds={"duckdb", "python"},
    code_version=code_version(),
    description=(
        "Simulated τ²-bench conversations for one domain × batch: one per stored user script, played by "
        "the configured agent and user backends (scripted by default; the `teacher` and `user_simulator` "
        "resources put models in those roles) under tau2's protocol, scored by "
        "tau2's rules. Rows in the `trajectories` table, each stored as its conversation ends, so a "
        "killed run resumes where it stopped; rows no longer planned, or made from other inputs or "
        "backends, are replaced."
    ),
)
def trajectories(
    context: dg.AssetExecutionContext,
    storage: WritStorage,
    simulation: SimulationSettings,
    teacher: ModelRole,
    user_simulator: ModelRole,
) -> dg.MaterializeResult:
    """Simulate the partition's missing conversations, storing each as it finishes."""
    domain, batch = split_key(context.partition_key)
    # bad settings fail here, before anything is written
    config, agent_factory, user_factory = trajectory_backends(simulation.trajectory_config(), teacher, user_simulator)
    last = [0]

    def progress(counts: Progress) -> None:
        step = max(1, counts.planned // PROGRESS_STEPS)
        if counts.done - last[0] >= step or counts.finished:
            last[0] = counts.done
            context.log.info(counts.line())

    with storage.connect() as con:
        result = run_trajectories(
            con, domain, batch, config, on_stored=progress, agent_factory=agent_factory, user_factory=user_factory
        )
        samples = sample_trajectories(con, domain, batch)
        rates = pass_rate_by_axes(con, domain, batch)
    context.log.info(
        f"{domain}/{batch}: {result.planned} trajectories ({result.simulated} simulated, "
        f"{result.kept} kept from before, {result.pruned} stale rows dropped)"
    )
    if result.infrastructure_failures:
        # stored, so they can be traced, but not final: the check `trajectories_final` fails
        context.log.warning(
            f"{domain}/{batch}: {result.infrastructure_failures} conversations failed on "
            "infrastructure (endpoint down, 5xx or timeout); the next run retries them"
        )
    return dg.MaterializeResult(
        metadata=trajectory_metadata(result, config.agent_backend, config.user_backend, str(storage.path))
        | samples_metadata(samples)
        | _pass_rate_metadata(domain, batch, rates, result),
        data_version=dg.DataVersion(result.content_digest),
    )


def trajectory_metadata(result: TrajectoryRun, agent: str, user: str, database: str) -> Metadata:
    """The figures the UI shows for a trajectories partition."""
    f = result.figures
    attempts = f.get("attempts", {})
    return {
        "infrastructure_failures": result.infrastructure_failures,
        "attempts_per_conversation": attempts.get("per_chain", 1),
        "pass_at_k_by_trajectory_type": dg.MetadataValue.md(
            pass_markdown(attempts.get("by_trajectory_type", {}), "trajectory type")
        ),
        **(
            {"pass_at_k_by_task_family": dg.MetadataValue.md(pass_markdown(attempts["by_task_family"], "task family"))}
            if "by_task_family" in attempts
            else {}
        ),
        "dagster/partition_row_count": result.planned,
        "dagster/table_name": f"writ.main.{TRAJECTORIES_TABLE}",
        "trajectories": result.planned,
        "simulated_this_run": result.simulated,
        "kept_from_earlier_runs": result.kept,
        "stale_rows_dropped": result.pruned,
        "success_rate": f.get("success_rate", 0.0),
        "successes": f.get("successes", 0),
        "success_rate_canonical": f.get("success_rate_canonical", 0.0),
        "success_rate_scripted_users": f.get("success_rate_scripted_users", 0.0),
        "termination_reasons": dg.MetadataValue.md(counts_markdown(f.get("termination_reasons", {}), "reason")),
        "distributions": dg.MetadataValue.md(distribution_markdown(f)),
        "turns_median": f.get("turns", {}).get("median", 0),
        "tokens_total": f.get("tokens_total", 0),
        "token_count_kind": dg.MetadataValue.json(f.get("token_kinds", {})),
        "tool_calls_total": f.get("tool_calls_total", 0),
        "tool_errors_total": f.get("tool_errors_total", 0),
        "malformed_outputs": f.get("malformed_total", 0),
        "malformed_by_kind": dg.MetadataValue.md(counts_markdown(f.get("malformed", {}), "kind")),
        "agent_backend": agent,
        "user_backend": user,
        "summary": dg.MetadataValue.json(f),
        "content_digest": result.content_digest,
        "config_hash": result.run.config_hash if result.run else "",
        "code_version": result.run.code_version if result.run else code_version(),
        "database": home_path(database),
        **quality_metadata(f.get("quality", {})),
    }


def _pass_rate_metadata(
    domain: str, batch: str, rates: dict[tuple[int, int], float], result: TrajectoryRun
) -> Metadata:
    """The pass-rate heatmap, and the figures the Plots tab charts as one series per domain."""
    return {
        "plot_pass_rate_by_cell": dg.MetadataValue.md(
            md_image(
                axes_heatmaps(
                    {domain: rates}, f"{domain}/{batch}: share of conversations scoring 1.0", "pass rate", percent=True
                ),
                "pass rate by writes and reads",
            )
        ),
        f"{domain}_success_rate": result.figures.get("success_rate", 0.0),
        f"{domain}_trajectories": result.planned,
        f"{domain}_agent_distinct_sentence_share": result.figures.get("quality", {}).get("agent_distinct_share", 0.0),
        f"{domain}_read_heavy_evidence_share": result.figures.get("quality", {}).get("read_heavy_evidence_share", 0.0),
    }


def pass_markdown(table: dict[str, dict], label: str) -> str:
    """pass@1 / pass@k per group as a markdown table."""
    if not table:
        return "_none_"
    lines = [f"| {label} | chains | attempts | pass@1 | pass@k |", "|---|---:|---:|---:|---:|"]
    lines += [
        f"| {k} | {v['chains']} | {v['attempts']} | {v['pass@1']:.3f} | {v['pass@k']:.3f} |" for k, v in table.items()
    ]
    return "\n".join(lines)
