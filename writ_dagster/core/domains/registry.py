"""Registry of tau2 domains: policy, typed tools with their OpenAI schemas, DB and base tasks.

A domain is any tau2-style module pair exposing ``get_environment(db=None)`` and
``get_tasks(split)``; airline and retail are registered here, and a user registers their
own (or telecom) with :func:`register_domain` without touching the synthesis core.

This module is also the one list of the domains WRIT partitions its data by
(:data:`WRIT_DOMAINS`): partitions, the command line, schedules and evaluation settings ask
it. tau2 is imported only when a domain is first used (through the tau2 adapter), so asking
for the list stays cheap (the command line starts in well under a second; importing tau2 takes
seconds).
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable

from writ_dagster.core import tau2_adapter
from writ_dagster.core.domains.state import BaseState

if TYPE_CHECKING:
    from writ_dagster.core.tau2_adapter import Environment, Task, ToolType

# The domains WRIT synthesizes for: tau2's environment module and the package of this
# project holding the domain's pack, composer and wording (a new domain is one such folder).
_BUILTIN: dict[str, tuple[str, str]] = {
    "airline": ("tau2.domains.airline.environment", "writ_dagster.core.tasks.airline"),
    "retail": ("tau2.domains.retail.environment", "writ_dagster.core.tasks.retail"),
}
WRIT_DOMAINS: tuple[str, ...] = tuple(_BUILTIN)


class UnknownDomainError(ValueError):
    """Raised for a domain name that is not registered."""


@dataclass(frozen=True)
class ToolInfo:
    """One agent tool: its name, tau2 type and OpenAI function schema as tau2 produces it."""

    name: str
    type: ToolType
    openai_schema: dict[str, Any]


@dataclass(eq=False)  # one object per registered name; hashed by identity so caches can key on it
class Domain:
    """A tau2 domain, loaded lazily and once per process."""

    name: str
    environment_factory: Callable[..., Environment]
    tasks_loader: Callable[[str | None], list[Task]]
    package: str | None = None  # where this domain's pack, composer and wording live, if anywhere
    _extra: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def _template_env(self) -> Environment:
        return self.environment_factory()

    @cached_property
    def base(self) -> BaseState:
        """The loaded DB every fork of this domain shares."""
        return BaseState(self._template_env.tools.db)

    @cached_property
    def policy(self) -> str:
        return self._template_env.get_policy()

    @cached_property
    def tools(self) -> dict[str, ToolInfo]:
        kit = self._template_env.tools
        out: dict[str, ToolInfo] = {}
        for tool in self._template_env.get_tools():
            out[tool.name] = ToolInfo(tool.name, kit.tool_type(tool.name), tool.openai_schema)
        return dict(sorted(out.items()))

    def tool_names(self, kind: ToolType) -> list[str]:
        return [t.name for t in self.tools.values() if t.type == kind]

    @cached_property
    def write_tools(self) -> frozenset[str]:
        from writ_dagster.core.tau2_adapter import ToolType

        return frozenset(self.tool_names(ToolType.WRITE))

    def part(self, name: str) -> ModuleType | None:
        """This domain's module ``name`` (``pack``, ``composer``, ``wording``) from its package; None if it has none."""
        if self.package is None:
            return None
        try:
            return importlib.import_module(f"{self.package}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{self.package}.{name}":
                raise  # the module exists but something it imports does not
            return None

    def environment(self, db: Any = None) -> Environment:
        """A tau2 Environment over ``db`` (a fork's DB), or a fresh one loaded from file."""
        return self.environment_factory(db=db)

    def base_tasks(self) -> list[Task]:
        """The τ²-bench base tasks shipped with the installed tau2."""
        return self.tasks_loader("base")

    def catalogue(self) -> dict[str, Any]:
        """A JSON-able summary: tools by type, DB sizes, base-task count."""
        return {
            "domain": self.name,
            "tools": [
                {"name": t.name, "type": t.type.value, "schema": json.dumps(t.openai_schema, sort_keys=True)}
                for t in self.tools.values()
            ],
            "tables": {name: len(rows) for name, rows in self.base.tables.items()},
            "base_tasks": len(self.base_tasks()),
        }


_REGISTRY: dict[str, Domain] = {}


def register_domain(
    name: str,
    environment_factory: Callable[..., Environment],
    tasks_loader: Callable[[str | None], list[Task]],
    package: str | None = None,
) -> Domain:
    """Register a tau2-style domain under ``name`` (replacing any earlier one).

    ``package`` names a package with the domain's ``composer`` (and optionally ``pack`` and
    ``wording``) modules, as ``docs/layout.md`` lists them; without one, register a composer with
    ``tasks.composers.register_composer`` (the domain then has the generic pack: plain writes only).
    """
    domain = Domain(name, environment_factory, tasks_loader, package)
    _REGISTRY[name] = domain
    return domain


def _deferred(module: str, attr: str) -> Callable[..., Any]:
    """``module.attr``, imported on its first call (a tau2 module: through the adapter)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(tau2_adapter.import_module(module), attr)(*args, **kwargs)

    call.__qualname__ = f"{module}.{attr}"
    return call


def register_tau2_module(name: str, module: str, package: str | None = None) -> Domain:
    """Register a domain from a module with tau2's ``get_environment``/``get_tasks`` pair (imported on first use)."""
    return register_domain(name, _deferred(module, "get_environment"), _deferred(module, "get_tasks"), package)


def get_domain(name: str) -> Domain:
    """The registered domain called ``name``; a clear error naming the known ones otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise UnknownDomainError(f"unknown domain {name!r}; registered domains: {known}") from None


def domain_names() -> list[str]:
    """Every registered domain (WRIT's own and any a user added), sorted."""
    return sorted(_REGISTRY)


for _name, (_module, _package) in _BUILTIN.items():
    register_tau2_module(_name, _module, _package)


def upstream_tasks_path(domain: str, root: Path | None) -> Path | None:
    """Path of an upstream task set for ``domain`` under ``root``, if present."""
    if root is None:
        return None
    path = Path(root) / domain / "tasks.json"
    return path if path.exists() else None
