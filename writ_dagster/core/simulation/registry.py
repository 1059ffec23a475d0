"""Backends by name: the one place that maps a configured name to an agent or user backend.

A backend is registered with a factory that takes keyword options (from the run's config)
and returns a :class:`~writ_dagster.core.simulation.backends.Backend` or ``AsyncBackend``.
The scripted backends are built in; others (LLM clients) register themselves with
:func:`register_backend` when their module is imported. Such modules are found without a
change here: on a name that is not yet known, the modules in ``PLUGIN_MODULES`` and those
named by the ``writ_dagster.backends`` entry-point group are imported once, then the
lookup is retried.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Literal

from writ_dagster.core.simulation.backends import AsyncBackend, Backend, ScriptedBackend

Role = Literal["agent", "user"]
ROLES: tuple[Role, ...] = ("agent", "user")
BackendFactory = Callable[..., Backend | AsyncBackend]

ENTRY_POINT_GROUP = "writ_dagster.backends"
# Packages whose import registers more backends; a missing one is simply skipped.
PLUGIN_MODULES: tuple[str, ...] = ("writ_dagster.core.llm",)


class UnknownBackendError(ValueError):
    """A backend name that no registered backend answers to (for the role asked)."""


@dataclass(frozen=True)
class BackendSpec:
    """A registered backend: its name, factory, the roles it can play and a one-line description."""

    name: str
    factory: BackendFactory
    roles: frozenset[str]
    description: str = ""


_REGISTRY: dict[str, BackendSpec] = {}
_plugins_loaded = False
_plugin_errors: list[str] = []  # plugins that failed to import, named in unknown-backend errors


def register_backend(
    name: str, factory: BackendFactory, *, roles: Iterable[Role] = ROLES, description: str = "", replace: bool = False
) -> BackendSpec:
    """Make ``factory`` available under ``name`` for ``roles``; returns the registered spec.

    ``factory(**options)`` must return a backend. Registering a taken name raises
    ``ValueError`` unless ``replace`` is set.
    """
    roles = frozenset(roles)
    if not name or not roles or not roles <= set(ROLES):
        raise ValueError(f"a backend needs a name and roles among {ROLES}, got {name!r} {sorted(roles)}")
    if name in _REGISTRY and not replace:
        raise ValueError(f"backend {name!r} is already registered")
    spec = BackendSpec(name, factory, roles, description)
    _REGISTRY[name] = spec
    return spec


def _load_plugins() -> None:
    """Import the plugin modules and entry points once (they call :func:`register_backend`)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for module in PLUGIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                _plugin_errors.append(f"{module}: {exc}")  # present, but one of its imports is not
        except Exception as exc:  # a broken plugin must not break the scripted backends
            _plugin_errors.append(f"{module}: {type(exc).__name__}: {exc}")
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry.load()
        except Exception as exc:
            _plugin_errors.append(f"{entry.value}: {type(exc).__name__}: {exc}")


def backend_names(role: Role | None = None) -> list[str]:
    """Names of the registered backends (that can play ``role``), plugins included."""
    _load_plugins()
    return sorted(n for n, s in _REGISTRY.items() if role is None or role in s.roles)


def get_backend_spec(name: str, role: Role) -> BackendSpec:
    """The backend registered as ``name`` for ``role``, or :class:`UnknownBackendError`."""
    spec = _REGISTRY.get(name)
    if spec is None:
        _load_plugins()
        spec = _REGISTRY.get(name)
    if spec is None or role not in spec.roles:
        known = ", ".join(backend_names(role)) or "none"
        failed = f" (plugins that failed to load: {'; '.join(_plugin_errors)})" if _plugin_errors else ""
        raise UnknownBackendError(f"unknown {role} backend {name!r}; known: {known}{failed}")
    return spec


def create_backend(name: str, role: Role, options: dict[str, Any] | None = None) -> Backend | AsyncBackend:
    """A new backend instance: ``name``'s factory called with ``options``."""
    spec = get_backend_spec(name, role)
    try:
        return spec.factory(**(options or {}))
    except TypeError as exc:  # wrong option names: say which backend and options
        raise ValueError(f"cannot create {role} backend {name!r} with options {sorted(options or {})}: {exc}") from exc


def check_options(name: str, role: Role, options: dict[str, Any]) -> None:
    """Refuse option names ``name``'s factory does not take, without creating the backend (a
    factory that takes ``**kwargs``, like vLLM's engine options, accepts any name)."""
    spec = get_backend_spec(name, role)
    try:
        signature = inspect.signature(spec.factory)
    except (TypeError, ValueError):  # a builtin or C callable: nothing to read
        return
    params = signature.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    known = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = sorted(set(options) - set(known))
    if unknown:
        takes = f"it takes: {', '.join(known)}" if known else "it takes no options"
        raise ValueError(f"unknown {role}_options for backend {name!r}: {', '.join(map(str, unknown))}; {takes}")


def backend_factory(
    name: str, role: Role, options: dict[str, Any] | None = None
) -> Callable[[], Backend | AsyncBackend]:
    """A no-argument factory for ``name`` (picklable, so worker processes can call it)."""
    get_backend_spec(name, role)  # fail here, not in a worker
    return functools.partial(create_backend, name, role, dict(options or {}))


# -- built-in scripted backends ----------------------------------------------------------------


def _scripted(cls: type[ScriptedBackend]) -> BackendFactory:
    def factory(**options: Any) -> Backend:
        if options:
            raise ValueError(f"the scripted backend {cls.name!r} takes no options, got {sorted(options)}")
        return cls()

    factory.__signature__ = inspect.Signature()  # type: ignore[attr-defined]  # check_options: no option names
    return factory


def _register_builtins() -> None:
    from writ_dagster.core.simulation.oracle import OracleAgent
    from writ_dagster.core.simulation.scripted_user import ScriptedUser

    register_backend(
        "scripted-oracle",
        _scripted(OracleAgent),
        roles=("agent",),
        replace=True,
        description="rule-based agent that follows the task's gold plan under the domain policy",
    )
    register_backend(
        "scripted-user",
        _scripted(ScriptedUser),
        roles=("user",),
        replace=True,
        description="rule-based customer that plays the stored user script",
    )


_register_builtins()
