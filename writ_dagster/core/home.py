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


class HomeError(ValueError):
    """A home folder (WRIT's or Dagster's) that is not a folder, or that this user cannot create or write."""


def check_writable_dir(path: Path, name: str) -> None:
    """Refuse ``path`` (named by the variable ``name``) unless it is a folder this process can write,
    or one it can create: its nearest existing ancestor is a writable folder."""
    try:
        _check_writable_dir(path, name)
    except OSError as exc:  # a name longer than the file system allows, a loop of links, ...
        from writ_dagster.core.config_files import quote  # only on this path: it loads the YAML parser

        raise HomeError(f"{name} cannot be used: {exc.strerror or exc} ({quote(str(path), 80)})") from None


def _check_writable_dir(path: Path, name: str) -> None:
    if path.exists():
        if not path.is_dir():
            raise HomeError(f"{name} {path} is not a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise HomeError(f"{name} {path} is not writable")
        return
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise HomeError(f"{name} {path} cannot be created: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise HomeError(f"{name} {path} cannot be created: {parent} is not writable")


def make_dir(path: Path, name: str) -> Path:
    """Create the folder ``path`` (named by the variable ``name``) if missing; a failure is a :class:`HomeError`
    (a checked path can still refuse, e.g. on a read-only or virtual file system)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HomeError(f"{name} {path} cannot be created: {exc.strerror or exc}") from None
    return path


def duckdb_path() -> Path:
    """The DuckDB file that holds every WRIT table."""
    return writ_home() / DB_FILENAME


def upstream_tasks_dir() -> str | None:
    """The upstream τ²-bench task sets to decontaminate against (``$WRIT_UPSTREAM_TASKS``), if set."""
    value = os.environ.get(UPSTREAM_ENV, "").strip()
    return value or None
