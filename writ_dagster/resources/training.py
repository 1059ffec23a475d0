"""Training settings as a Dagster resource: which recipe, its overrides, how the training is launched.

The ``checkpoint`` asset runs the training outside the Dagster process through Dagster Pipes:
``launcher="python"`` starts ``python -m writ_dagster.core.training.pipes_main``;
``launcher="accelerate"`` starts the same module under ``accelerate launch`` (``num_processes``
ranks, ``mixed_precision``, or an accelerate config file such as
``deploy/accelerate/multi-gpu.yaml``). ``python`` may name another interpreter (a training
environment with torch and trl, apart from the one Dagster runs in).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal

import dagster as dg
from pydantic import Field

from writ_dagster.core.home import writ_home
from writ_dagster.core.training.recipes import TrainingRecipe, get_recipe

TRAINING_MODULE = "writ_dagster.core.training.pipes_main"


class TrainingSettings(dg.ConfigurableResource):
    """How the ``checkpoint`` asset fine-tunes: recipe, overrides, launcher, where checkpoints go."""

    recipe: str = Field(default="cpu-tiny", description="recipe name: cpu-tiny | gpu-qwen3-4b | gpu-qwen3-4b-lora")
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="recipe fields to change, e.g. {max_steps: 20, learning_rate: 1e-5}"
    )
    launcher: Literal["python", "accelerate"] = Field(
        default="python", description="'python': one process; 'accelerate': `accelerate launch` (multi-GPU)"
    )
    num_processes: int = Field(default=1, ge=1, description="accelerate: processes (GPUs) to train on")
    mixed_precision: Literal["no", "bf16", "fp16"] = Field(default="bf16", description="accelerate: mixed precision")
    accelerate_config: str | None = Field(
        default=None,
        description="accelerate: a config file (e.g. deploy/accelerate/multi-gpu.yaml); "
        "when set, num_processes and mixed_precision come from it",
    )
    python: str | None = Field(default=None, description="interpreter that runs the training (default: Dagster's)")
    checkpoints_root: str | None = Field(default=None, description="default $WRIT_HOME/checkpoints")
    models_root: str | None = Field(default=None, description="cache of built base models; default $WRIT_HOME/models")

    def training_recipe(self) -> TrainingRecipe:
        """The recipe with its overrides (raises ValueError naming what is wrong)."""
        return get_recipe(self.recipe, self.overrides)

    @property
    def checkpoints_dir(self) -> Path:
        """Where checkpoints are written (resolved when used, so WRIT_HOME may change)."""
        return (
            Path(self.checkpoints_root).expanduser().resolve() if self.checkpoints_root else writ_home() / "checkpoints"
        )

    @property
    def models_dir(self) -> Path:
        """Where built base models (the tiny base) are cached."""
        return Path(self.models_root).expanduser().resolve() if self.models_root else writ_home() / "models"

    def command(self) -> list[str]:
        """The command line of the training process."""
        python = self.python or sys.executable
        if self.launcher == "python":
            return [python, "-m", TRAINING_MODULE]
        launch = [python, "-m", "accelerate.commands.launch"]
        if self.accelerate_config:
            launch += ["--config_file", str(Path(self.accelerate_config).expanduser())]
        else:
            launch += ["--num_processes", str(self.num_processes), "--mixed_precision", self.mixed_precision]
            if self.num_processes > 1:
                launch += ["--multi_gpu"]
        return [*launch, "-m", TRAINING_MODULE]
