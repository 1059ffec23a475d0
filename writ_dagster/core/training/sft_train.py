"""Supervised fine-tuning of a checkpoint on an SFT set's Parquet with TRL, written so that no
half-written checkpoint ever looks finished.

The set's ``train.parquet`` (``messages`` in OpenAI chat format with tool-call ``arguments`` as
JSON text, ``tools`` as JSON text; see ``writ_dagster.core.sft.export``) is read as it is: TRL
parses ``tools`` and the chat templates pass string arguments through, so the ``datasets``
library never sees dict-typed arguments it could merge across rows. Loss is on assistant tokens
only (the template's ``{% generation %}`` span; TRL swaps in its training variant of the Qwen3
Instruct-2507 template, whose original has none).

Writing: everything goes into ``<out>.partial/``; the completion marker
(:data:`~writ_dagster.core.training.COMPLETE_MARKER`, a JSON manifest: recipe, base model,
sft_version, steps, loss curve, file list) is written last, and only then is the folder renamed
to ``<out>``. A training killed at any point leaves at most the ``.partial`` folder, which the
next run clears. Under ``accelerate launch`` every rank trains; only the main process writes.

Needs torch, transformers, trl, datasets (and peft for LoRA); no tau2, vLLM or Dagster.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from writ_dagster.core.folders import replace_dir
from writ_dagster.core.training import COMPLETE_MARKER
from writ_dagster.core.training.lengths import LengthFigures, TokenCounter, length_figures
from writ_dagster.core.training.qwen3 import save_model_dir
from writ_dagster.core.training.recipes import TrainingRecipe
from writ_dagster.core.training.tiny_base import TINY_BASE

TRAINING_LOG = "training_log.jsonl"  # one line per logged step, appended as training runs
SFT_COLUMNS = ("messages", "tools")  # what the trainer reads; lineage columns stay in the database

LogFn = Callable[[dict[str, Any]], None]


class TrainJob(BaseModel):
    """One training run: what to train, on what, and where the checkpoint goes."""

    recipe: TrainingRecipe
    train_path: str = Field(description="the SFT set's train.parquet")
    validation_path: str | None = Field(None, description="its validation.parquet, if it has rows")
    out: str = Field(description="the checkpoint folder to create (trained into '<out>.partial' first)")
    sft_version: str
    base_model: str | None = Field(
        None,
        description="the base model's folder or hub id as the launching process "
        "resolved it (it builds the tiny base); default: the recipe's",
    )


class TrainResult(BaseModel):
    """The completion manifest: what was trained, from what, and how it went."""

    checkpoint: str
    recipe: str
    recipe_digest: str
    recipe_json: dict[str, Any]
    base_model: str
    sft_version: str
    steps: int
    train_rows: int
    rows_at_max_length: int = Field(
        description="train rows longer than max_length, which the trainer cut at the end "
        "(their tail was not trained): its own count, with the tokenizer "
        "and chat template it trained with, before cutting"
    )
    split_rows: int | None = Field(None, description="rows of the train split (train_rows: those the trainer kept)")
    token_lengths: LengthFigures | None = Field(None, description="tokens of the train split's rows, as trained")
    final_loss: float | None
    mean_loss: float | None
    loss_curve: list[tuple[int, float]]
    eval_loss: float | None = None
    processes: int = 1
    seconds: float
    files: list[dict[str, Any]] = Field(description="[{'path', 'bytes'}] of every file in the checkpoint")
    versions: dict[str, str]


def partial_dir(out: str | Path) -> Path:
    """The folder a checkpoint is trained into before it is complete."""
    out = Path(out)
    return out.with_name(out.name + ".partial")


def is_complete(path: str | Path) -> bool:
    """Whether ``path`` is a finished checkpoint (it holds the completion marker)."""
    return (Path(path) / COMPLETE_MARKER).is_file()


def read_manifest(path: str | Path) -> TrainResult:
    """The completion manifest of the finished checkpoint at ``path``."""
    return TrainResult.model_validate_json((Path(path) / COMPLETE_MARKER).read_text())


def resolve_base_model(job: TrainJob) -> str:
    """The base model's hub id or folder: the job's, else the recipe's (never the tiny base's bare name)."""
    base = job.base_model or job.recipe.base_model
    if base == TINY_BASE:
        raise ValueError(
            f"recipe {job.recipe.name!r} trains the tiny base: the launching process builds it "
            "(writ_dagster.core.llm.tiny_model.ensure_tiny_base) and names its folder in the job's "
            "base_model"
        )
    return base


def load_sft_split(path: str | Path) -> Any:
    """An SFT split's Parquet as a ``datasets.Dataset`` with the columns the trainer reads."""
    from datasets import Dataset

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SFT split {path} does not exist")
    ds = Dataset.from_parquet(str(path))
    missing = [c for c in SFT_COLUMNS if c not in ds.column_names]
    if missing:
        raise ValueError(f"SFT split {path} lacks column(s) {missing}; has {ds.column_names}")
    return ds.select_columns(list(SFT_COLUMNS))


def build_trainer(
    job: TrainJob, base_model: str, callbacks: list[Any] | None = None, output_dir: str | Path | None = None
) -> Any:
    """A ready ``trl.SFTTrainer`` for ``job`` (datasets tokenized, masks built); nothing trained yet."""
    from transformers import AutoTokenizer, PrinterCallback, set_seed
    from trl import SFTTrainer

    recipe = job.recipe
    set_seed(recipe.seed)
    train, evaluation = _splits(job)
    tok = AutoTokenizer.from_pretrained(base_model)
    model = _load_model(base_model, recipe)
    peft_config = _lora_config(recipe)
    args = _trainer_args(recipe, str(output_dir or partial_dir(job.out) / "_trainer"))
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=tok,
        peft_config=peft_config,
        callbacks=callbacks or [],
    )
    # Without tqdm the Trainer prints every log dict; the losses reach the caller through ``on_log``.
    trainer.remove_callback(PrinterCallback)
    return trainer


def _splits(job: TrainJob) -> tuple[Any, Any]:
    """The train split (refused when empty) and, when the recipe evaluates at the end, a non-empty
    validation split or None."""
    train = load_sft_split(job.train_path)
    if len(train) == 0:
        raise ValueError(f"SFT set {job.sft_version} has no train rows ({job.train_path})")
    evaluation = None
    if job.recipe.eval_at_end and job.validation_path and Path(job.validation_path).is_file():
        evaluation = load_sft_split(job.validation_path)
        evaluation = evaluation if len(evaluation) else None
    return train, evaluation


def _load_model(base_model: str, recipe: TrainingRecipe) -> Any:
    """The base model in the recipe's dtype (and attention implementation, where it names one)."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if recipe.dtype == "bfloat16" else torch.float32
    kwargs: dict[str, Any] = {"dtype": dtype}
    if recipe.attn_implementation:
        kwargs["attn_implementation"] = recipe.attn_implementation
    return AutoModelForCausalLM.from_pretrained(base_model, **kwargs)


def _lora_config(recipe: TrainingRecipe) -> Any:
    """peft's LoRA settings of the recipe; None for full fine-tuning."""
    if recipe.lora is None:
        return None
    from peft import LoraConfig

    lora = recipe.lora
    targets = lora.target_modules if isinstance(lora.target_modules, str) else list(lora.target_modules)
    return LoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets, task_type="CAUSAL_LM"
    )


def _trainer_args(recipe: TrainingRecipe, output_dir: str) -> Any:
    """trl's ``SFTConfig`` for the recipe: no saving or evaluation during training (done once, after)."""
    from trl import SFTConfig

    return SFTConfig(
        output_dir=output_dir,
        assistant_only_loss=recipe.assistant_only_loss,
        packing=recipe.packing,
        max_length=recipe.max_length,
        learning_rate=recipe.learning_rate,
        lr_scheduler_type=recipe.lr_scheduler_type,
        warmup_steps=recipe.warmup_steps,
        num_train_epochs=recipe.num_train_epochs,
        max_steps=recipe.max_steps,
        per_device_train_batch_size=recipe.per_device_train_batch_size,
        per_device_eval_batch_size=recipe.per_device_train_batch_size,
        gradient_accumulation_steps=recipe.gradient_accumulation_steps,
        weight_decay=recipe.weight_decay,
        max_grad_norm=recipe.max_grad_norm,
        gradient_checkpointing=recipe.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if recipe.gradient_checkpointing else None,
        bf16=recipe.bf16,
        use_cpu=recipe.device == "cpu",
        logging_steps=recipe.logging_steps,
        logging_first_step=True,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        seed=recipe.seed,
        data_seed=recipe.seed,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )


def _quiet_libraries() -> None:
    """Progress reaches the caller as loss points and ``say`` lines: no bars or dumps on the console."""
    import datasets
    from transformers.utils import logging as hf_logging

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_warning()


class _LossLog:
    """Collects (step, loss) as the trainer logs, appends them to a file and passes them on."""

    def __init__(self, path: Path | None, on_log: LogFn | None) -> None:
        from transformers import TrainerCallback

        self.curve: list[tuple[int, float]] = []
        outer = self

        class Callback(TrainerCallback):
            def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
                if not state.is_world_process_zero or not logs or "loss" not in logs:
                    return
                point = {
                    "step": state.global_step,
                    "loss": float(logs["loss"]),
                    **{k: float(logs[k]) for k in ("learning_rate", "grad_norm", "epoch") if k in logs},
                }
                outer.curve.append((point["step"], point["loss"]))
                if path is not None:
                    with path.open("a") as fh:  # visible while training runs, and kept in the checkpoint
                        fh.write(json.dumps(point) + "\n")
                if on_log is not None:
                    on_log(point)

        self.callback = Callback()


def train_checkpoint(
    job: TrainJob, on_log: LogFn | None = None, say: Callable[[str], None] | None = None
) -> TrainResult | None:
    """Train ``job`` into ``<out>.partial``, write the marker last, rename to ``<out>``.

    Returns the manifest on the main process (None on other ranks). ``on_log`` gets each logged
    point ``{"step", "loss", "learning_rate", ...}``; ``say`` gets progress lines.
    """
    from accelerate import PartialState

    say = say or (lambda msg: None)
    started = time.perf_counter()
    _quiet_libraries()
    state = PartialState()
    out, partial = Path(job.out), partial_dir(job.out)
    if state.is_main_process:
        _fresh_dir(partial)
    base_model = resolve_base_model(job)
    state.wait_for_everyone()

    loss_log = _LossLog(partial / TRAINING_LOG if state.is_main_process else None, on_log)
    trainer = build_trainer(job, base_model, callbacks=[loss_log.callback])
    train_rows, lengths = _measure_and_announce(job, trainer, state.num_processes, base_model, say)
    at_max = lengths.over_limit or 0
    output = trainer.train()
    eval_loss = float(trainer.evaluate()["eval_loss"]) if trainer.eval_dataset is not None else None

    _save(trainer, job, partial, state)
    state.wait_for_everyone()
    if not state.is_main_process:
        return None
    shutil.rmtree(partial / "_trainer", ignore_errors=True)
    curve = loss_log.curve
    result = TrainResult(
        checkpoint=str(out),
        recipe=job.recipe.name,
        recipe_digest=job.recipe.digest(),
        recipe_json=json.loads(job.recipe.model_dump_json()),
        base_model=base_model,
        sft_version=job.sft_version,
        steps=int(trainer.state.global_step),
        train_rows=train_rows,
        rows_at_max_length=at_max,
        split_rows=lengths.rows,
        token_lengths=lengths,
        final_loss=curve[-1][1] if curve else None,
        mean_loss=float(output.training_loss),
        loss_curve=curve,
        eval_loss=eval_loss,
        processes=state.num_processes,
        seconds=round(time.perf_counter() - started, 1),
        files=_files(partial),
        versions=_versions(),
    )
    finish(partial, out, result)
    say(f"checkpoint {out}: {result.steps} steps, loss {curve[0][1] if curve else None} -> {result.final_loss}")
    return result


def _fresh_dir(partial: Path) -> None:
    """An empty ``partial``: what a killed run left there is never reused."""
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)


def _measure_and_announce(
    job: TrainJob, trainer: Any, processes: int, base_model: str, say: Callable[[str], None]
) -> tuple[int, LengthFigures]:
    """The trainer's train rows and their token lengths, said with what is about to be trained."""
    train_rows = len(trainer.train_dataset)
    # counted again here, with the tokenizer this training loaded: the SFT set may have been built where
    # it was not at hand, and the trainer's own dataset is already cut to max_length
    lengths = train_lengths(job, trainer)
    say(
        f"training {job.recipe.name} on {train_rows} conversations of SFT set {job.sft_version} "
        f"({lengths.over_limit or 0} of {lengths.rows} longer than {job.recipe.max_length} tokens, cut at the end; "
        f"median {lengths.median:.0f}, max {lengths.max} tokens), {processes} process(es), base {base_model}"
    )
    return train_rows, lengths


def train_lengths(job: TrainJob, trainer: Any) -> LengthFigures:
    """Tokens of every row of the job's train split as ``trainer`` renders them (its tokenizer and chat
    template, tools included), before it cuts them at the recipe's ``max_length``."""
    count = TokenCounter(
        trainer.processing_class, job.recipe.assistant_only_loss, chat_template=getattr(trainer, "chat_template", None)
    )
    rows = load_sft_split(job.train_path)
    return length_figures((count(r["messages"], r["tools"]) for r in rows), "tokens", job.recipe.max_length)


def _save(trainer: Any, job: TrainJob, partial: Path, state: Any) -> None:
    tok = trainer.processing_class
    if job.recipe.lora is not None:
        # merge the adapters so the checkpoint is a plain model (vLLM serves it without LoRA support)
        if state.is_main_process:
            merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
            save_model_dir(merged, tok, partial)
        return
    trainer.save_model(str(partial))  # every rank: collective under FSDP / DeepSpeed
    if state.is_main_process:
        tok.save_pretrained(partial)
        if isinstance(tok.chat_template, str) and not (partial / "chat_template.jinja").exists():
            (partial / "chat_template.jinja").write_text(tok.chat_template)


def finish(partial: Path, out: Path, result: TrainResult) -> None:
    """Write the marker into ``partial`` (last), then put the folder at ``out`` (replacing an older one)."""
    marker = partial / COMPLETE_MARKER
    with marker.open("w") as fh:
        fh.write(result.model_dump_json(indent=2))
        fh.flush()
        os.fsync(fh.fileno())
    replace_dir(partial, out)


def _files(folder: Path) -> list[dict[str, Any]]:
    return [
        {"path": p.relative_to(folder).as_posix(), "bytes": p.stat().st_size}
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    ]


def _versions() -> dict[str, str]:
    from importlib import metadata

    found = {}
    for name in ("torch", "transformers", "trl", "datasets", "accelerate", "peft"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found
