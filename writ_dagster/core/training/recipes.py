"""Training recipes: every hyperparameter of a fine-tuning run, by name, with overrides.

Three recipes ship (docs/training.md says why each value):

- ``cpu-tiny``: the untrained tiny Qwen3 (:mod:`writ_dagster.core.training.tiny_base`) trained on
  CPU for a fixed, small number of steps, so the whole WRIT loop runs on a laptop;
- ``gpu-qwen3-4b``: full fine-tuning of Qwen3-4B-Instruct-2507 (WRIT's base model) in bf16;
- ``gpu-qwen3-4b-lora``: the same with LoRA adapters, merged into the base when training ends so
  the checkpoint is a plain model vLLM serves.

All use TRL's assistant-only loss (only the agent's tokens are trained; system, user and tool
turns are context) and no packing. ``get_recipe(name, overrides)`` applies overrides by field
name (``{"max_steps": 20, "lora": {"r": 8}}``) and refuses unknown names with a clear error.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, model_validator

from writ_dagster.core.settings_model import SettingsModel
from writ_dagster.core.training.tiny_base import TINY_BASE, TinyBaseSpec


class LoraSpec(SettingsModel):
    """LoRA adapters (peft); merged into the base model before the checkpoint is written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    r: int = Field(64, ge=1, description="adapter rank")
    alpha: int = Field(128, ge=1, description="scaling numerator (alpha / r scales the update)")
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: str | tuple[str, ...] = Field("all-linear", description="'all-linear' or module names")


class TrainingRecipe(SettingsModel):
    """One fine-tuning configuration. Field names follow TRL's ``SFTConfig`` where they map to it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    base_model: str = Field(description=f"hub id or local folder; '{TINY_BASE}' = the untrained tiny Qwen3")
    tiny_base: TinyBaseSpec | None = Field(None, description=f"shape of the tiny base when base_model is '{TINY_BASE}'")
    device: Literal["cpu", "gpu"] = "gpu"
    dtype: Literal["float32", "bfloat16"] = Field("bfloat16", description="dtype the weights are loaded and saved in")
    bf16: bool = Field(True, description="bf16 mixed-precision compute (needs a GPU with bf16)")
    lora: LoraSpec | None = None
    assistant_only_loss: bool = True
    packing: bool = False
    max_length: int = Field(16384, ge=64, description="tokens per conversation; longer ones are cut at the end")
    learning_rate: float = Field(1e-5, gt=0)
    lr_scheduler_type: str = "cosine"
    warmup_steps: float = Field(0.05, ge=0, description="a count, or a fraction of all steps if below 1")
    num_train_epochs: float = Field(3.0, gt=0)
    max_steps: int = Field(-1, description="if > 0, stop after this many optimizer steps (overrides epochs)")
    per_device_train_batch_size: int = Field(1, ge=1)
    gradient_accumulation_steps: int = Field(16, ge=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    gradient_checkpointing: bool = True
    attn_implementation: str | None = Field("sdpa", description="e.g. 'flash_attention_2' where installed")
    logging_steps: int = Field(10, ge=1)
    eval_at_end: bool = Field(True, description="report the validation split's loss after training, if it has rows")
    seed: int = 0

    @model_validator(mode="after")
    def _consistent(self) -> "TrainingRecipe":
        if self.device == "cpu" and (self.bf16 or self.dtype == "bfloat16"):
            raise ValueError(f"recipe {self.name!r}: bf16 needs a GPU; use dtype='float32' and bf16=False on CPU")
        if self.packing:
            # packing concatenates conversations; without a varlen attention kernel they would attend
            # across each other, and WRIT rows are whole conversations: nothing to gain
            raise ValueError(f"recipe {self.name!r}: packing is not supported (conversations are trained whole)")
        if self.tiny_base is not None and self.base_model != TINY_BASE:
            raise ValueError(f"recipe {self.name!r}: tiny_base is set but base_model is {self.base_model!r}")
        return self

    def digest(self) -> str:
        """Hash of every field (names a checkpoint made with this recipe)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:12]

    def effective_batch(self, processes: int = 1) -> int:
        """Conversations per optimizer step."""
        return self.per_device_train_batch_size * self.gradient_accumulation_steps * processes


# cpu-tiny's window: the SFT set built for it leaves out the rows longer than this in the tiny tokenizer
# (~2.6 characters per token; the default run's rows run to ~22,600 tokens, median ~4,600). Covering them
# all would cost minutes per step on 2 cores (attention grows with the square of the length); 4096 keeps
# ~44% of them, all three trajectory types, and 20 steps of 2 cost about what 32 steps of 4 cut at 1024 did.
CPU_TINY = TrainingRecipe(
    name="cpu-tiny",
    description="The untrained tiny Qwen3 (2 layers, hidden 64, local tokenizer) on CPU for 20 steps of 2 "
    "conversations up to 4096 tokens: proves the loop, not a useful model.",
    base_model=TINY_BASE,
    tiny_base=TinyBaseSpec(),
    device="cpu",
    dtype="float32",
    bf16=False,
    max_length=4096,
    learning_rate=5e-3,
    warmup_steps=5,
    num_train_epochs=1.0,
    max_steps=20,
    per_device_train_batch_size=2,
    gradient_accumulation_steps=1,
    gradient_checkpointing=False,
    attn_implementation="sdpa",
    logging_steps=4,
    seed=0,
)

GPU_QWEN3_4B = TrainingRecipe(
    name="gpu-qwen3-4b",
    description="Full fine-tuning of Qwen3-4B-Instruct-2507 in bf16 (one 80 GB GPU, or several with accelerate).",
    base_model="Qwen/Qwen3-4B-Instruct-2507",
    device="gpu",
    dtype="bfloat16",
    bf16=True,
    max_length=16384,
    learning_rate=1e-5,
    lr_scheduler_type="cosine",
    warmup_steps=0.05,
    num_train_epochs=3.0,
    per_device_train_batch_size=1,
    gradient_accumulation_steps=16,
    weight_decay=0.0,
    max_grad_norm=1.0,
    gradient_checkpointing=True,
    logging_steps=5,
    seed=0,
)

GPU_QWEN3_4B_LORA = GPU_QWEN3_4B.model_copy(
    update={
        "name": "gpu-qwen3-4b-lora",
        "description": "LoRA (r=64, alpha=128, all linear layers) on Qwen3-4B-Instruct-2507 in bf16, merged at the end.",
        "lora": LoraSpec(r=64, alpha=128, dropout=0.05, target_modules="all-linear"),
        "learning_rate": 1e-4,
    }
)

RECIPES: dict[str, TrainingRecipe] = {r.name: r for r in (CPU_TINY, GPU_QWEN3_4B, GPU_QWEN3_4B_LORA)}


def recipe_names() -> list[str]:
    """The names :func:`get_recipe` knows."""
    return sorted(RECIPES)


def get_recipe(name: str, overrides: dict[str, Any] | None = None) -> TrainingRecipe:
    """Recipe ``name`` with ``overrides`` applied (validated; nested fields merge, e.g. ``{"lora": {"r": 8}}``)."""
    if name not in RECIPES:
        raise ValueError(f"unknown training recipe {name!r}; known: {', '.join(recipe_names())}")
    base = RECIPES[name].model_dump()
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(TrainingRecipe.model_fields))
    if unknown:
        raise ValueError(
            f"unknown training recipe field(s) {', '.join(map(repr, unknown))} in overrides of "
            f"{name!r}; known fields: {', '.join(TrainingRecipe.model_fields)}"
        )
    if "name" in overrides and overrides["name"] != name:
        raise ValueError("overrides cannot rename a recipe; pick the recipe by its name instead")
    for key, value in overrides.items():
        if key in ("lora", "tiny_base") and isinstance(value, dict):
            # a nested override merges into the recipe's own (or the defaults, if it had none)
            value = {**(base.get(key) or {}), **value}
        base[key] = value
    try:
        return TrainingRecipe.model_validate(base)
    except ValidationError as exc:
        raise ValueError(f"invalid overrides for training recipe {name!r}: {exc}") from None
