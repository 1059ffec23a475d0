"""Stage ``checkpoint``: the latest SFT set -> a fine-tuned checkpoint, registered once complete.

The training runs in another process, started by the caller's ``launch`` (Dagster Pipes in the
asset), which streams its losses back. This process builds what that program must not (the tiny
base, whose tokenizer comes from tau2 conversations) and hands it paths. The checkpoint is
registered only after ``launch`` returned *and* its folder holds the completion marker, so a
failed or killed training never leaves a row (nor a folder without the marker) that looks like a
checkpoint. The database is open only to read the SFT set and to register the checkpoint.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from writ_dagster.core.folders import build_lock, staging_dir
from writ_dagster.core.sft.models import RecipeLengths
from writ_dagster.core.stages import Connect, MissingInputError
from writ_dagster.core.storage.checkpoints import CheckpointRecord, IncompleteCheckpointError, register_checkpoint
from writ_dagster.core.storage.sft import SFTSetInfo, latest_sft_set
from writ_dagster.core.training.recipes import TrainingRecipe
from writ_dagster.core.training.sft_train import TrainJob, TrainResult, is_complete, partial_dir, read_manifest
from writ_dagster.core.training.tiny_base import BASE_MANIFEST, TINY_BASE, TinyBaseSpec, tiny_base_dir

# Runs the training program on a job until it exits; returns the custom messages it streamed.
Launch = Callable[[str, TrainJob], Sequence[Any]]  # (checkpoint id, job)
Log = Callable[[str], None]


@dataclass
class CheckpointRun:
    """One trained and registered checkpoint."""

    record: CheckpointRecord
    manifest: TrainResult
    streamed_losses: int
    content_digest: str


# Tiny bases this process built or found, by folder name (which carries the spec's digest). The `sft` stage
# needs one's tokenizer too, so a run for another WRIT_HOME in the same process (the tests, a notebook)
# copies the folder (~1 MB) instead of building it again (~10 s of CPU).
_TINY_BASES: dict[str, Path] = {}


def base_model_for(recipe: TrainingRecipe, models_dir: str | Path, log: Log | None = None) -> str:
    """The folder or hub id the training starts from; the tiny base is built (or found cached) first."""
    if recipe.base_model != TINY_BASE:
        return recipe.base_model
    from writ_dagster.core.llm.tiny_model import ensure_tiny_base  # tau2 and torch: only for this recipe

    spec = recipe.tiny_base or TinyBaseSpec()
    out = tiny_base_dir(models_dir, spec)
    known = _TINY_BASES.get(out.name)
    if known is not None and known != out and (known / BASE_MANIFEST).is_file() and not (out / BASE_MANIFEST).is_file():
        with build_lock(out):
            if not (out / BASE_MANIFEST).is_file():  # another process may have built it meanwhile
                with staging_dir(out) as tmp:
                    shutil.copytree(known, tmp, dirs_exist_ok=True)
    path = ensure_tiny_base(models_dir, spec, log=log)
    _TINY_BASES[path.name] = path
    return str(path)


def run_checkpoint(
    connect: Connect,
    recipe: TrainingRecipe,
    checkpoints_dir: Path,
    models_dir: Path,
    launch: Launch,
    log: Log | None = None,
) -> CheckpointRun:
    """Train a checkpoint of ``recipe`` on the latest SFT set through ``launch`` and register it when complete.

    Raises :class:`MissingInputError` (before anything runs) if there is no SFT set to train on.
    """
    say = log or (lambda _msg: None)
    info = _set_to_train_on(connect)
    say(lengths_note(info.lengths, recipe, info.sft_version))

    checkpoint_id = f"{info.sft_version}-{recipe.name}-{recipe.digest()[:8]}"
    out = checkpoints_dir / checkpoint_id
    validation = info.validation_path
    job = TrainJob(
        recipe=recipe,
        train_path=str(info.train_path),
        validation_path=str(validation) if validation and validation.is_file() else None,
        out=str(out),
        sft_version=info.sft_version,
        base_model=base_model_for(recipe, models_dir, say),
    )
    messages = _train(launch, checkpoint_id, job)
    manifest = read_manifest(out)
    streamed = [m for m in messages if isinstance(m, dict) and m.get("kind") == "loss"]

    record = CheckpointRecord(
        checkpoint_id=checkpoint_id,
        sft_version=info.sft_version,
        recipe=recipe.name,
        recipe_json=recipe.model_dump_json(),
        base_model=manifest.base_model,
        path=str(out),
        steps=manifest.steps,
        train_rows=manifest.train_rows,
        final_loss=manifest.final_loss,
        loss_curve=manifest.loss_curve,
    )
    with connect() as con:
        register_checkpoint(con, record)
    say(f"registered checkpoint {checkpoint_id}: {manifest.steps} steps, final loss {manifest.final_loss}")
    return CheckpointRun(
        record=record, manifest=manifest, streamed_losses=len(streamed), content_digest=content_digest(out, manifest)
    )


def _set_to_train_on(connect: Connect) -> SFTSetInfo:
    """The latest SFT set; :class:`MissingInputError` when there is none or it has no train split."""
    with connect() as con:  # closed again before training: DuckDB has one writer
        info = latest_sft_set(con)
    if info is None:
        raise MissingInputError("no SFT set is stored yet: materialize `sft_set` first")
    if info.n_train == 0 or not info.train_path.is_file():
        raise MissingInputError(f"SFT set {info.sft_version} has no train split to train on ({info.train_path})")
    return info


def _train(launch: Launch, checkpoint_id: str, job: TrainJob) -> Sequence[Any]:
    """What ``launch`` streamed, once its folder holds the completion marker; a failed training's folder removed."""
    out = Path(job.out)
    try:
        messages = launch(checkpoint_id, job)
    except Exception:
        # the folder of a failed training is never a checkpoint; don't keep (possibly GBs of) it around
        shutil.rmtree(partial_dir(out), ignore_errors=True)
        raise
    if not is_complete(out):
        raise IncompleteCheckpointError(f"training exited cleanly but {out} has no completion marker")
    return messages


def lengths_note(lengths: RecipeLengths | None, recipe: TrainingRecipe, sft_version: str) -> str:
    """What the SFT set's own count says about the rows this recipe will cut; the training counts again."""
    head = f"SFT set {sft_version}: "
    tail = "; the training counts every row with its own tokenizer and reports those it cuts"
    if lengths is None:
        return head + f"built for no training recipe (token lengths not counted){tail}"
    if not lengths.counted:
        return head + f"token lengths not counted ({lengths.not_counted}){tail}"
    if lengths.recipe != recipe.name or lengths.max_length != recipe.max_length:
        return (
            head + f"counted for recipe {lengths.recipe} at max_length {lengths.max_length}, not for "
            f"{recipe.name} at {recipe.max_length}{tail}"
        )
    return head + lengths.line()


def content_digest(out: Path, manifest: TrainResult) -> str:
    """The checkpoint's data version: its folder and the training's own record identify its content."""
    return hashlib.sha256((str(out) + manifest.model_dump_json()).encode()).hexdigest()[:16]
