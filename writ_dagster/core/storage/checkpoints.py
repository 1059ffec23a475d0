"""Fine-tuned checkpoints in the WRIT database (``checkpoints``): registered only when complete.

Training writes into a ``*.partial`` directory and renames it into place when every file is
written; only then is it registered here. So a row in ``checkpoints`` always names a whole
checkpoint, and a killed training leaves at most a ``.partial`` directory nobody reads.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
from pydantic import BaseModel, Field

from writ_dagster.core.storage.base import has_table, json_text, transaction, utc_now
from writ_dagster.core.training import COMPLETE_MARKER  # written last inside a finished checkpoint directory
from writ_dagster.core.versioning import code_version

__all__ = [
    "COMPLETE_MARKER",
    "CheckpointRecord",
    "IncompleteCheckpointError",
    "checkpoints",
    "latest_checkpoint",
    "read_checkpoint",
    "register_checkpoint",
]

CHECKPOINTS_DDL = """CREATE TABLE IF NOT EXISTS checkpoints (
        checkpoint_id VARCHAR PRIMARY KEY,
        sft_version VARCHAR NOT NULL,
        recipe VARCHAR NOT NULL,
        recipe_json VARCHAR NOT NULL,
        base_model VARCHAR NOT NULL,
        path VARCHAR NOT NULL,
        steps INTEGER NOT NULL,
        train_rows INTEGER NOT NULL,
        final_loss DOUBLE,
        loss_curve_json VARCHAR NOT NULL,
        code_version VARCHAR NOT NULL,
        written_at TIMESTAMP NOT NULL
    )"""


class CheckpointRecord(BaseModel):
    """One complete fine-tuned checkpoint and how it was made."""

    checkpoint_id: str
    sft_version: str
    recipe: str = Field(description="recipe name, e.g. 'cpu-tiny' or 'gpu-qwen3-4b'")
    recipe_json: str = Field(description="the full recipe (hyperparameters) as JSON")
    base_model: str = Field(description="the model it was fine-tuned from (path or hub name)")
    path: str = Field(description="the checkpoint directory (a model vLLM and transformers load)")
    steps: int
    train_rows: int
    final_loss: float | None = None
    loss_curve: list[tuple[int, float]] = Field(default_factory=list, description="(step, training loss)")
    code_version: str = Field(default_factory=code_version)
    written_at: datetime | None = None


class IncompleteCheckpointError(RuntimeError):
    """A checkpoint directory is missing or was not finished; it is not registered."""


def register_checkpoint(con: duckdb.DuckDBPyConnection, record: CheckpointRecord) -> CheckpointRecord:
    """Register a finished checkpoint (its directory must hold the completion marker)."""
    path = Path(record.path)
    if not (path / COMPLETE_MARKER).is_file():
        raise IncompleteCheckpointError(f"checkpoint {path} has no {COMPLETE_MARKER}: training did not finish")
    record = record.model_copy(update={"written_at": record.written_at or utc_now()})
    with transaction(con):
        con.execute("DELETE FROM checkpoints WHERE checkpoint_id = ?", [record.checkpoint_id])
        con.execute(
            "INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                record.checkpoint_id,
                record.sft_version,
                record.recipe,
                record.recipe_json,
                record.base_model,
                record.path,
                record.steps,
                record.train_rows,
                record.final_loss,
                json_text([list(p) for p in record.loss_curve]),
                record.code_version,
                record.written_at,
            ],
        )
    return record


def _record(row: dict) -> CheckpointRecord:
    curve = [tuple(p) for p in json.loads(row.pop("loss_curve_json"))]
    return CheckpointRecord(**row, loss_curve=curve)


def read_checkpoint(con: duckdb.DuckDBPyConnection, checkpoint_id: str) -> CheckpointRecord | None:
    """The registered checkpoint ``checkpoint_id``, or None."""
    if not has_table(con, "checkpoints"):
        return None
    frame = con.sql("SELECT * FROM checkpoints WHERE checkpoint_id = ?", params=[checkpoint_id]).pl()
    return _record(frame.row(0, named=True)) if frame.height else None


def checkpoints(con: duckdb.DuckDBPyConnection) -> list[CheckpointRecord]:
    """Every registered checkpoint, newest first."""
    if not has_table(con, "checkpoints"):
        return []
    frame = con.sql("SELECT * FROM checkpoints ORDER BY written_at DESC, checkpoint_id").pl()
    return [_record(row) for row in frame.iter_rows(named=True)]


def latest_checkpoint(con: duckdb.DuckDBPyConnection, sft_version: str | None = None) -> CheckpointRecord | None:
    """The most recently registered checkpoint (of SFT set ``sft_version`` if given), or None."""
    if not has_table(con, "checkpoints"):
        return None
    sql, params = "SELECT * FROM checkpoints", []
    if sft_version is not None:
        sql, params = sql + " WHERE sft_version = ?", [sft_version]
    frame = con.sql(sql + " ORDER BY written_at DESC, checkpoint_id LIMIT 1", params=params).pl()
    return _record(frame.row(0, named=True)) if frame.height else None
