"""Which composer builds tasks for which domain; register your own for a new domain."""

from __future__ import annotations

import importlib
from typing import Callable

from writ_dagster.core.tasks.blueprints import Composer

_FACTORIES: dict[str, Callable[[], Composer]] = {}
_BUILTIN = {
    "airline": "writ_dagster.core.tasks.airline.composer",
    "retail": "writ_dagster.core.tasks.retail.composer",
}
_CACHE: dict[str, Composer] = {}


def register_composer(domain: str, factory: Callable[[], Composer]) -> None:
    """Use ``factory()`` to compose tasks for ``domain``."""
    _FACTORIES[domain] = factory
    _CACHE.pop(domain, None)


def get_composer(domain: str) -> Composer:
    """The composer for ``domain`` (built once per process)."""
    if domain not in _CACHE:
        if domain in _FACTORIES:
            _CACHE[domain] = _FACTORIES[domain]()
        elif domain in _BUILTIN:
            _CACHE[domain] = importlib.import_module(_BUILTIN[domain]).build_composer()
        else:
            raise ValueError(f"no task composer registered for domain {domain!r}")
    return _CACHE[domain]
