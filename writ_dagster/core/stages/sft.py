"""Stage ``sft_set``: every stored, complete trajectory partition -> one SFT set, on disk and in DuckDB.

Steps, each usable alone (the benchmark times them one by one): :func:`read_sft_inputs`
reads the trajectories of complete partitions with the tasks and user scripts they were
made from; :func:`build_sft` curates them; :func:`publish_sft` writes the Parquet files and
card into a temporary folder and renames it to ``<root>/<sft_version>``, so a half-written
set never appears under its version; :func:`write_sft_set` stores it. :func:`run_sft` does
all of it. The same stored inputs and config give the same version and rows.

A set built for a training recipe (:func:`recipe_limit`) counts each row in the recipe's tokens,
with its tokenizer and chat template as its trainer renders it, and leaves out the rows longer
than its ``max_length``. The CPU recipe's tokenizer is built here (the tiny base, cached); a hub
model's is loaded from the local copy, or downloaded where the hub answers; where it is not at
hand, the set says its tokens were not counted and drops nothing on a guess.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from writ_dagster.core.folders import staging_dir
from writ_dagster.core.sft.curate import RecipeLimit, build_sft
from writ_dagster.core.sft.export import write_sft
from writ_dagster.core.sft.models import SFTBuild, SFTConfig, SFTRow
from writ_dagster.core.simulation.quality import rows_quality
from writ_dagster.core.simulation.records import TrajectoryRecord
from writ_dagster.core.stages.checkpoint import base_model_for
from writ_dagster.core.storage.base import digest_of, has_table
from writ_dagster.core.storage.lineage import ensure_lineage_views
from writ_dagster.core.storage.scripts import read_script_hashes
from writ_dagster.core.storage.sft import AXIS_COLUMNS, SFTSetInfo, sft_rows_frame, write_sft_set
from writ_dagster.core.storage.tasks import read_all_tasks
from writ_dagster.core.storage.trajectories import (
    complete_trajectories,
    complete_trajectories_digest,
    incomplete_partitions,
)
from writ_dagster.core.tasks.models import TaskRecord
from writ_dagster.core.training.lengths import TokenCounter, TokenizerUnavailable, load_tokenizer
from writ_dagster.core.training.recipes import TrainingRecipe
from writ_dagster.core.training.tiny_base import TINY_BASE


@dataclass
class SFTInputs:
    """What an SFT set is built from."""

    trajectories: list[TrajectoryRecord]
    tasks: dict[str, TaskRecord]
    script_hashes: dict[str, str]
    digest: str = ""
    incomplete_partitions: list[str] = field(default_factory=list)


@dataclass
class SFTResult:
    """One built and stored SFT set."""

    build: SFTBuild
    info: SFTSetInfo
    incomplete_partitions: list[str]
    quality: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return Path(self.info.directory)


def read_sft_inputs(con: duckdb.DuckDBPyConnection) -> SFTInputs:
    """Stored trajectories of every complete partition, every stored task and user-script hash."""
    if not has_table(con, "trajectories"):
        return SFTInputs([], {}, {}, digest_of([]))
    records = complete_trajectories(con)
    tasks = {t.task_id: t for t in read_all_tasks(con)}
    scripts = read_script_hashes(con)
    incomplete = incomplete_partitions(con)
    digest = complete_trajectories_digest(con)
    return SFTInputs(records, tasks, scripts, digest, incomplete)


def build_from(inputs: SFTInputs, config: SFTConfig, limit: RecipeLimit | None = None) -> SFTBuild:
    """:func:`build_sft` on stored inputs (for the recipe ``limit``, if given)."""
    return build_sft(inputs.trajectories, inputs.tasks, config, script_hashes=inputs.script_hashes, limit=limit)


def recipe_limit(
    recipe: TrainingRecipe, models_dir: str | Path, log: Callable[[str], None] | None = None
) -> RecipeLimit:
    """How to count rows for ``recipe``: its tokenizer and training chat template, or why they are not at hand.

    The tiny base of the CPU recipe is built (or found) under ``models_dir``, as the checkpoint
    stage does; a hub id is loaded from the local copy, or downloaded only if the hub answers.
    Call it before opening the database: building or downloading takes seconds.
    """
    name = label = recipe.base_model
    try:
        if importlib.util.find_spec("transformers") is None or importlib.util.find_spec("tokenizers") is None:
            raise TokenizerUnavailable("not available: transformers is not installed (the `llm` extra)")
        if recipe.base_model == TINY_BASE:
            name = base_model_for(recipe, models_dir, log)  # built once, then cached for the checkpoint too
            label = Path(name).name  # the cached folder's name (it carries the base's digest), not a local path
        tok = load_tokenizer(name)
    except TokenizerUnavailable as exc:
        return RecipeLimit(
            recipe=recipe.name,
            tokenizer=label,
            max_length=recipe.max_length,
            not_counted=f"tokenizer of recipe {recipe.name} {exc}",
        )
    return RecipeLimit(
        recipe=recipe.name,
        tokenizer=label,
        max_length=recipe.max_length,
        count=TokenCounter(tok, recipe.assistant_only_loss),
    )


def publish_sft(build: SFTBuild, root: str | Path) -> Path:
    """Write ``build``'s Parquet files and card to ``root/<version>`` through a temporary folder.

    An existing folder of the same version (the same rows, rebuilt) is replaced; a reader sees
    either the old complete folder or the new one, never a partial one.
    """
    final = Path(root) / build.version
    with staging_dir(final) as tmp:
        write_sft(build, tmp)
    return final


def run_sft(
    con: duckdb.DuckDBPyConnection, config: SFTConfig, root: str | Path, limit: RecipeLimit | None = None
) -> SFTResult:
    """Build the SFT set of everything stored (for the recipe ``limit``, if given), write it under ``root``
    and store it in the database."""
    inputs = read_sft_inputs(con)
    build = build_from(inputs, config, limit)
    path = publish_sft(build, root)
    info = write_sft_set(con, build, config, path, inputs.digest)
    ensure_lineage_views(con)  # a database made before the lineage views gains them here
    return SFTResult(
        build=build,
        info=info,
        incomplete_partitions=inputs.incomplete_partitions,
        quality=rows_quality(build.rows, inputs.tasks),
    )


def stored_build(con: duckdb.DuckDBPyConnection, info: SFTSetInfo) -> SFTBuild:
    """The stored set ``info`` as an :class:`SFTBuild` (rows from ``sft_rows``), for re-export."""
    import json

    frame = sft_rows_frame(con, info.sft_version)
    rows = [
        SFTRow(
            domain=r["domain"],
            trajectory_type=r["trajectory_type"],
            has_user_script=r["has_user_script"],
            messages=json.loads(r["messages_json"]),
            tools=r["tools_json"],
            split=r["split"],
            trajectory_id=r["trajectory_id"],
            task_id=r["task_id"],
            script_id=r["script_id"],
            partition=r["partition"],
            sft_version=r["sft_version"],
            family=r.get("family") or "writes",
            **{c: r[c] for c in AXIS_COLUMNS if r.get(c) is not None},
        )
        for r in frame.iter_rows(named=True)
    ]
    return SFTBuild(
        version=info.sft_version,
        rows=rows,
        considered=info.considered,
        dropped=info.dropped,
        cells=info.cells,
        policy_filter=info.config().policy_filter,  # the card says what was checked
        lengths=info.lengths,
    )
