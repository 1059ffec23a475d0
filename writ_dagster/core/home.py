"""Where WRIT keeps its state: ``WRIT_HOME`` and the DuckDB file in it.

``WRIT_HOME`` (default ``./.writ``) holds ``writ.duckdb`` and the stages' folders; the Dagster
instance that lives beside them (``dagster/``) is described in ``writ_dagster.instance``.
"""

from __future__ import annotations

import os
from pathlib import Path

WRIT_HOME_ENV = "WRIT_HOME"
UPSTREAM_ENV = "WRIT_UPSTREAM_TASKS"
DB_FILENAME = "writ.duckdb"


def writ_home() -> Path:
    """The absolute WRIT home directory (``$WRIT_HOME``, default ``./.writ``); not created."""
    return Path(os.environ.get(WRIT_HOME_ENV) or ".writ").expanduser().resolve()


def duckdb_path() -> Path:
    """The DuckDB file that holds every WRIT table."""
    return writ_home() / DB_FILENAME


def upstream_tasks_dir() -> str | None:
    """The upstream τ²-bench task sets to decontaminate against (``$WRIT_UPSTREAM_TASKS``), if set."""
    value = os.environ.get(UPSTREAM_ENV, "").strip()
    return value or None
