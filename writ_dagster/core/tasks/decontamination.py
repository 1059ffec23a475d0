"""Decontamination against τ²-bench base tasks: same user and same set of write decisions."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from writ_dagster.core import runtime  # noqa: F401
from tau2.data_model.tasks import Task

from writ_dagster.core.domains.registry import Domain

Signature = tuple[str | None, frozenset[str]]


def write_key(name: str, arguments: dict[str, Any]) -> str:
    """Canonical text of one write decision (tool and exact arguments)."""
    return name + json.dumps(arguments, sort_keys=True, default=str)


def owner_of(domain: Domain, arguments: dict[str, Any]) -> str | None:
    """The user a write acts for: its ``user_id`` or the owner of an entity it names."""
    if isinstance(arguments.get("user_id"), str):
        return arguments["user_id"]
    for value in arguments.values():
        if not isinstance(value, str):
            continue
        for rows in domain.base.tables.values():
            entity = rows.get(value)
            owner = getattr(entity, "user_id", None) if entity is not None else None
            if isinstance(owner, str):
                return owner
    return None


def signature(domain: Domain, writes: Iterable[tuple[str, dict[str, Any]]]) -> Signature | None:
    """(user, set of write decisions) of a plan; None for a plan without writes."""
    writes = list(writes)
    if not writes:
        return None
    user = next((u for u in (owner_of(domain, a) for _, a in writes) if u), None)
    return user, frozenset(write_key(n, a) for n, a in writes)


def signature_digest(sig: Signature) -> str:
    """A stable digest of a signature, so task sets can be indexed without shipping them."""
    user, writes = sig
    return hashlib.sha256(json.dumps([user, sorted(writes)]).encode()).hexdigest()


BUNDLED_SIGNATURES = "upstream_signatures.json"


def bundled_digests(domain: str) -> dict[str, list[str]]:
    """Digests of upstream τ²-bench's base-task signatures shipped with the package (may be empty)."""
    data = json.loads(resources.files("writ_dagster.core.tasks").joinpath(BUNDLED_SIGNATURES).read_text())
    return {d: list(ids) for d, ids in data.get("domains", {}).get(domain, {}).items()}


@dataclass
class BaseTaskIndex:
    """Signatures of the base tasks a synthesized task must not reproduce."""

    domain: str
    signatures: dict[Signature, list[str]]
    digests: dict[str, list[str]] = field(default_factory=dict)

    def collisions(self, sig: Signature | None) -> list[str]:
        if sig is None:
            return []
        hits = list(self.signatures.get(sig, []))
        hits += [h for h in self.digests.get(signature_digest(sig), []) if h not in hits]
        return hits


def _task_sig(domain: Domain, task: Task) -> Signature | None:
    actions = (task.evaluation_criteria.actions or []) if task.evaluation_criteria else []
    return signature(domain, [(a.name, a.arguments) for a in actions if a.name in domain.write_tools])


def build_index(domain: Domain, upstream_root: str | Path | None = None) -> BaseTaskIndex:
    """Index the installed tau2's base tasks, upstream's (bundled digests) and, if given, a task set on disk."""
    sigs: dict[Signature, list[str]] = {}
    sources: list[tuple[str, list[Task]]] = [("tau2", domain.tasks_loader(None))]
    if upstream_root is not None:
        path = Path(upstream_root) / domain.name / "tasks.json"
        if path.exists():
            raw = json.loads(path.read_text())
            sources.append(("upstream", [Task.model_validate(_strip_unknown(t)) for t in raw]))
    for origin, tasks in sources:
        for task in tasks:
            sig = _task_sig(domain, task)
            if sig is not None:
                sigs.setdefault(sig, []).append(f"{origin}:{task.id}")
    return BaseTaskIndex(domain.name, sigs, bundled_digests(domain.name))


def upstream_digests(domain: Domain, upstream_root: str | Path) -> dict[str, list[str]]:
    """Digests of an upstream task set's signatures: what ``upstream_signatures.json`` holds."""
    raw = json.loads((Path(upstream_root) / domain.name / "tasks.json").read_text())
    out: dict[str, list[str]] = {}
    for t in raw:
        sig = _task_sig(domain, Task.model_validate(_strip_unknown(t)))
        if sig is not None:
            out.setdefault(signature_digest(sig), []).append(f"upstream:{t['id']}")
    return dict(sorted(out.items()))


def _strip_unknown(raw: dict[str, Any]) -> dict[str, Any]:
    # Upstream adds fields the packaged model lacks (e.g. `issues`); only the gold actions matter here.
    return {k: raw[k] for k in ("id", "description", "user_scenario", "initial_state", "evaluation_criteria")
            if k in raw}
