"""The ``checkpoint`` asset: a model fine-tuned on the latest SFT set, trained outside Dagster via Pipes.

The training runs in its own process (``PipesSubprocessClient``: ``python -m
writ_dagster.core.training.pipes_main``, or the same under ``accelerate launch``), which streams its
losses back as log lines; :mod:`writ_dagster.core.stages.checkpoint` registers the checkpoint only
once that process exited cleanly *and* its folder holds the completion marker. The asset sits in
the ``gpu`` pool: GPU steps never overlap.
"""

# No `from __future__ import annotations`: Dagster inspects the context annotation at definition time.
from collections.abc import Sequence
from typing import Any

import dagster as dg

from writ_dagster.assets.checks import check_result
from writ_dagster.assets.metadata import Metadata, home_path
from writ_dagster.core.audit_report import AuditReport
from writ_dagster.core.plots import loss_curve, md_image
from writ_dagster.core.stages import MissingInputError
from writ_dagster.core.stages.checkpoint import run_checkpoint
from writ_dagster.core.training.sft_train import TrainJob, TrainResult
from writ_dagster.core.versioning import code_version
from writ_dagster.instance import GPU_POOL
from writ_dagster.k8s import gpu_op_tags
from writ_dagster.resources.storage import WritStorage
from writ_dagster.resources.training import TrainingSettings

CHECKPOINTS_TABLE = "checkpoints"
ROWS_CUT_CHECK = "checkpoint_rows_cut"
ROWS_CUT_WARN_SHARE = 0.01  # above this share of train rows cut at max_length, the check warns


@dg.asset(
    deps=[dg.AssetKey("sft_set")],
    group_name="training",
    pool=GPU_POOL,
    op_tags=gpu_op_tags(1),
    kinds={"pytorch", "duckdb"},
    code_version=code_version(),
    description=(
        "A model fine-tuned with TRL (assistant-only loss) on the latest SFT set, by the configured "
        "recipe (cpu-tiny on a laptop, gpu-qwen3-4b[-lora] on a GPU host), trained in a separate process "
        "through Dagster Pipes. Registered in the `checkpoints` table only once complete."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            ROWS_CUT_CHECK,
            asset="checkpoint",
            description=f"At most {ROWS_CUT_WARN_SHARE:.0%} of the train rows were longer than the recipe's max_length "
            "(the trainer cuts them at the end, where the final writes are), counted by the training "
            "itself with the tokenizer it trained with; warns above.",
        )
    ],
)
def checkpoint(
    context: dg.AssetExecutionContext,
    storage: WritStorage,
    training: TrainingSettings,
    pipes_subprocess_client: dg.PipesSubprocessClient,
) -> dg.MaterializeResult:
    """Train a checkpoint on the latest SFT set and register it when complete."""
    recipe = training.training_recipe()  # bad settings fail here, before anything runs

    def launch(checkpoint_id: str, job: TrainJob) -> Sequence[Any]:
        command = training.command()
        context.log.info(f"training {checkpoint_id}: {' '.join(command)}")
        invocation = pipes_subprocess_client.run(
            command=command, context=context, extras={"job": job.model_dump(mode="json")}
        )
        return invocation.get_custom_messages()

    try:
        run = run_checkpoint(
            storage.connect, recipe, training.checkpoints_dir, training.models_dir, launch, log=context.log.info
        )
    except MissingInputError as exc:
        raise dg.Failure(str(exc)) from exc
    return dg.MaterializeResult(
        metadata=checkpoint_metadata(run.manifest, run.record.checkpoint_id, run.streamed_losses, training),
        data_version=dg.DataVersion(run.content_digest),
        check_results=[rows_cut_result(run.manifest)],
    )


def rows_cut_result(manifest: TrainResult) -> dg.AssetCheckResult:
    """Warn when more than 1% of the train rows were cut at max_length."""
    rows = manifest.split_rows if manifest.split_rows is not None else manifest.train_rows
    cut = manifest.rows_at_max_length
    share = cut / rows if rows else 0.0
    problems = (
        []
        if share <= ROWS_CUT_WARN_SHARE
        else [
            f"{cut} of {rows} train rows ({share:.1%}) are longer than {manifest.recipe_json.get('max_length')} tokens "
            f"and were cut at the end: build the SFT set for recipe {manifest.recipe} with its tokenizer at hand, "
            "or raise max_length"
        ]
    )
    figures = {"rows": rows, "rows_cut": cut, "share_cut": round(share, 4), "warn_above": ROWS_CUT_WARN_SHARE}
    return check_result(
        AuditReport(passed=not problems, problems=problems, figures=figures), severity=dg.AssetCheckSeverity.WARN
    )


def checkpoint_metadata(
    manifest: TrainResult, checkpoint_id: str, streamed: int, training: TrainingSettings
) -> Metadata:
    """What the UI shows for a checkpoint."""
    curve = manifest.loss_curve
    metadata = {
        "checkpoint_id": checkpoint_id,
        "checkpoint_path": home_path(manifest.checkpoint),
        "recipe": manifest.recipe,
        "recipe_json": dg.MetadataValue.json(manifest.recipe_json),
        "base_model": manifest.base_model,
        "sft_version": manifest.sft_version,
        "train_rows": manifest.train_rows,
        "rows_cut_at_max_length": manifest.rows_at_max_length,
        "rows_cut_share": (
            round(manifest.rows_at_max_length / manifest.split_rows, 4) if manifest.split_rows else None
        ),
        "max_length_tokens": manifest.recipe_json.get("max_length"),
        "token_lengths": manifest.token_lengths.text() if manifest.token_lengths is not None else None,
        "rows_dropped_by_trainer": (
            manifest.split_rows - manifest.train_rows if manifest.split_rows is not None else None
        ),
        "steps": manifest.steps,
        "first_loss": curve[0][1] if curve else None,
        "final_loss": manifest.final_loss,
        "mean_loss": manifest.mean_loss,
        "eval_loss": manifest.eval_loss,
        "loss_curve": dg.MetadataValue.table(
            records=[dg.TableRecord({"step": step, "loss": loss}) for step, loss in curve],
            schema=dg.TableSchema(columns=[dg.TableColumn("step", "int"), dg.TableColumn("loss", "float")]),
        ),
        "plot_loss_curve": dg.MetadataValue.md(
            md_image(loss_curve(curve, f"{checkpoint_id}: training loss"), "training loss by step")
        ),
        "loss_points_streamed": streamed,
        "launcher": training.launcher,
        "processes": manifest.processes,
        "train_seconds": manifest.seconds,
        "files": dg.MetadataValue.json(manifest.files),
        "versions": dg.MetadataValue.json(manifest.versions),
        "dagster/table_name": f"writ.main.{CHECKPOINTS_TABLE}",
    }
    return {k: v for k, v in metadata.items() if v is not None}  # e.g. no eval_loss without a validation split
