"""Which composer builds tasks for which domain; register your own for a new domain.

A domain registered with a package (see :mod:`writ_dagster.core.domains.registry`) brings its
composer as ``<package>.composer.build_composer``; :func:`register_composer` overrides that
or supplies one for a domain without a package.
"""

from __future__ import annotations

from typing import Callable

from writ_dagster.core.domains.registry import UnknownDomainError, get_domain
from writ_dagster.core.tasks.blueprints import Composer

_FACTORIES: dict[str, Callable[[], Composer]] = {}
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
        else:
            try:
                module = get_domain(domain).part("composer")
            except UnknownDomainError:
                module = None
            if module is None:
                raise ValueError(f"no task composer registered for domain {domain!r}")
            _CACHE[domain] = module.build_composer()
    return _CACHE[domain]
