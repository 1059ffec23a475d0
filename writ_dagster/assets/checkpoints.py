"""The ``checkpoint`` asset: a model fine-tuned on the latest SFT set, trained outside Dagster via Pipes.

The training runs in its own process (``PipesSubprocessClient``: ``python -m
writ_dagster.core.training.pipes_main``, or the same under ``accelerate launch``), which streams its
losses back as log lines. The checkpoint is registered in DuckDB only after that process exited
cleanly *and* its folder holds the completion marker, so a failed or killed training never leaves
a row (nor a folder without the marker) that looks like a checkpoint. The asset sits in the
``gpu`` pool: GPU steps never overlap.
"""

# No `from __future__ import annotations`: Dagster inspects the context annotation at definition time.
import hashlib
import shutil

import dagster as dg

from writ_dagster.core.checkpoint_storage import CheckpointRecord, IncompleteCheckpointError, register_checkpoint
from writ_dagster.core.sft_storage import latest_sft_set
from writ_dagster.core.training.sft_train import TrainJob, TrainResult, is_complete, partial_dir, read_manifest
from writ_dagster.core.versioning import code_version
from writ_dagster.k8s import gpu_op_tags
from writ_dagster.resources.storage import WritStorage
from writ_dagster.resources.training import TrainingSettings

CHECKPOINTS_TABLE = "checkpoints"


@dg.asset(
    deps=[dg.AssetKey("sft_set")],
    group_name="training",
    pool="gpu",
    op_tags=gpu_op_tags(1),
    kinds={"pytorch", "duckdb"},
    code_version=code_version(),
    description=(
        "A model fine-tuned with TRL (assistant-only loss) on the latest SFT set, by the configured "
        "recipe (cpu-tiny on a laptop, gpu-qwen3-4b[-lora] on a GPU host), trained in a separate process "
        "through Dagster Pipes. Registered in the `checkpoints` table only once complete."
    ),
)
def checkpoint(context: dg.AssetExecutionContext, storage: WritStorage, training: TrainingSettings,
               pipes_subprocess_client: dg.PipesSubprocessClient) -> dg.MaterializeResult:
    """Train a checkpoint on the latest SFT set and register it when complete."""
    recipe = training.training_recipe()  # bad settings fail here, before anything runs
    with storage.connect() as con:  # closed again before training: DuckDB has one writer
        info = latest_sft_set(con)
    if info is None:
        raise dg.Failure("no SFT set is stored yet: materialize `sft_set` first")
    if info.n_train == 0 or not info.train_path.is_file():
        raise dg.Failure(f"SFT set {info.sft_version} has no train split to train on ({info.train_path})")

    checkpoint_id = f"{info.sft_version}-{recipe.name}-{recipe.digest()[:8]}"
    out = training.checkpoints_dir / checkpoint_id
    validation = info.validation_path
    job = TrainJob(recipe=recipe, train_path=str(info.train_path),
                   validation_path=str(validation) if validation and validation.is_file() else None,
                   out=str(out), sft_version=info.sft_version, models_root=str(training.models_dir))
    command = training.command()
    context.log.info(f"training {checkpoint_id}: {' '.join(command)}")
    try:
        invocation = pipes_subprocess_client.run(command=command, context=context,
                                                 extras={"job": job.model_dump(mode="json")})
    except Exception:
        # the folder of a failed training is never a checkpoint; don't keep (possibly GBs of) it around
        shutil.rmtree(partial_dir(out), ignore_errors=True)
        raise
    if not is_complete(out):
        raise IncompleteCheckpointError(f"training exited cleanly but {out} has no completion marker")
    manifest = read_manifest(out)
    streamed = [m for m in invocation.get_custom_messages() if isinstance(m, dict) and m.get("kind") == "loss"]

    record = CheckpointRecord(
        checkpoint_id=checkpoint_id, sft_version=info.sft_version, recipe=recipe.name,
        recipe_json=recipe.model_dump_json(), base_model=manifest.base_model, path=str(out), steps=manifest.steps,
        train_rows=manifest.train_rows, final_loss=manifest.final_loss, loss_curve=manifest.loss_curve)
    with storage.connect() as con:
        register_checkpoint(con, record)
    context.log.info(f"registered checkpoint {checkpoint_id}: {manifest.steps} steps, final loss {manifest.final_loss}")
    return dg.MaterializeResult(metadata=checkpoint_metadata(manifest, checkpoint_id, len(streamed), training),
                                data_version=dg.DataVersion(_content_digest(out, manifest)))


def checkpoint_metadata(manifest: TrainResult, checkpoint_id: str, streamed: int,
                        training: TrainingSettings) -> dict[str, object]:
    """What the UI shows for a checkpoint."""
    curve = manifest.loss_curve
    metadata = {
        "checkpoint_id": checkpoint_id,
        "checkpoint_path": dg.MetadataValue.path(manifest.checkpoint),
        "recipe": manifest.recipe,
        "recipe_json": dg.MetadataValue.json(manifest.recipe_json),
        "base_model": manifest.base_model,
        "sft_version": manifest.sft_version,
        "train_rows": manifest.train_rows,
        "rows_cut_at_max_length": manifest.rows_at_max_length,
        "steps": manifest.steps,
        "first_loss": curve[0][1] if curve else None,
        "final_loss": manifest.final_loss,
        "mean_loss": manifest.mean_loss,
        "eval_loss": manifest.eval_loss,
        "loss_curve": dg.MetadataValue.table(
            records=[dg.TableRecord({"step": step, "loss": loss}) for step, loss in curve],
            schema=dg.TableSchema(columns=[dg.TableColumn("step", "int"), dg.TableColumn("loss", "float")])),
        "loss_points_streamed": streamed,
        "launcher": training.launcher,
        "processes": manifest.processes,
        "train_seconds": manifest.seconds,
        "files": dg.MetadataValue.json(manifest.files),
        "versions": dg.MetadataValue.json(manifest.versions),
        "dagster/table_name": f"writ.main.{CHECKPOINTS_TABLE}",
    }
    return {k: v for k, v in metadata.items() if v is not None}  # e.g. no eval_loss without a validation split


def _content_digest(out, manifest: TrainResult) -> str:  # noqa: ANN001
    # the weights' sizes and the training's own record identify this checkpoint's content
    return hashlib.sha256((str(out) + manifest.model_dump_json()).encode()).hexdigest()[:16]
