"""Decontamination against τ²-bench base tasks.

Three rules, each a rejection reason of its own:
- a task whose user and set of write decisions equal a base task's (the original rule);
- a task any one of whose writes equals a base task's gold write (same tool, same arguments);
- a task acting for a user, or on a reservation or order, that a τ²-bench *test* task uses
  (``SynthesisConfig.avoid_users_of="base"`` widens this to every base task, train included).
Both the installed tau2's tasks and upstream's (files on disk, or digests and id lists bundled
in ``upstream_signatures.json`` when the files are absent) count.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Literal

from writ_dagster.core.domains.pack import pack_of
from writ_dagster.core.domains.registry import Domain, get_domain
from writ_dagster.core.tau2_adapter import Task

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


def write_digest(name: str, arguments: dict[str, Any]) -> str:
    """A stable digest of one write decision."""
    return hashlib.sha256(write_key(name, arguments).encode()).hexdigest()


BUNDLED_SIGNATURES = "upstream_signatures.json"
AvoidScope = Literal["test", "base"]


def _bundle() -> dict[str, Any]:
    return json.loads(resources.files("writ_dagster.core.tasks").joinpath(BUNDLED_SIGNATURES).read_text())


def bundled_digests(domain: str) -> dict[str, list[str]]:
    """Digests of upstream τ²-bench's base-task signatures shipped with the package (may be empty)."""
    return {d: list(ids) for d, ids in _bundle().get("domains", {}).get(domain, {}).items()}


def bundled_write_digests(domain: str) -> dict[str, list[str]]:
    """Digests of every single gold write of upstream's base tasks, shipped with the package."""
    return {d: list(ids) for d, ids in _bundle().get("write_digests", {}).get(domain, {}).items()}


def bundled_entities(domain: str) -> dict[str, list[str]]:
    """Entities ('table:key') upstream's tasks use, per scope ('test', 'base'), shipped with the package."""
    return {k: list(v) for k, v in _bundle().get("entities", {}).get(domain, {}).items()}


@dataclass
class BaseTaskIndex:
    """What of the base tasks a synthesized task must not reproduce or reuse."""

    domain: str
    signatures: dict[Signature, list[str]]
    digests: dict[str, list[str]] = field(default_factory=dict)
    writes: dict[str, list[str]] = field(default_factory=dict, metadata={"doc": "write digest -> task ids"})
    avoided: set[str] = field(default_factory=set, metadata={"doc": "entities ('table:key') not to use"})

    def collisions(self, sig: Signature | None) -> list[str]:
        """Base tasks with the same user and the same set of writes."""
        if sig is None:
            return []
        hits = list(self.signatures.get(sig, []))
        hits += [h for h in self.digests.get(signature_digest(sig), []) if h not in hits]
        return hits

    def check_user(self, user_id: str) -> tuple[str, str] | None:
        """(reason, detail) when a benchmark task uses this user, else None."""
        if f"users:{user_id}" in self.avoided:
            return "user of a τ²-bench task", user_id
        return None

    def check_writes(
        self, writes: Iterable[tuple[str, dict[str, Any]]], entities: Iterable[str]
    ) -> tuple[str, str] | None:
        """(reason, detail) when a write repeats a base task's gold write or an entity is avoided."""
        for name, args in writes:
            hits = self.writes.get(write_digest(name, args))
            if hits:
                return "write equals a τ²-bench gold write", f"{name}: {', '.join(hits)}"
        # DB tables whose records belong to one user: a task must not touch those a benchmark task uses.
        owned = pack_of(get_domain(self.domain)).owned_tables
        used = set(entities) | {
            f"{owned[k]}:{v}" for _, a in writes for k, v in a.items() if k in owned and isinstance(v, str)
        }
        clash = sorted(used & self.avoided)
        if clash:
            return "entity of a τ²-bench task", ", ".join(clash)
        return None


def task_entities(domain: Domain, task: Task) -> set[str]:
    """The records a task names that belong to one user (the pack's ``owned_tables``: users, reservations,
    orders), in its gold actions or its instruction, with their owners."""
    pack = pack_of(domain)
    mention = re.compile(pack.id_pattern)
    tables = domain.base.tables
    out: set[str] = set()
    texts: list[str] = []
    actions = (task.evaluation_criteria.actions or []) if task.evaluation_criteria else []
    for action in actions:
        texts.append(json.dumps(action.arguments))
    if task.user_scenario is not None:
        texts.append(str(task.user_scenario.instructions))
    for text in texts:
        for token in mention.findall(text):
            for table in pack.owned_tables.values():
                rows = tables.get(table, {})
                if token in rows:
                    out.add(f"{table}:{token}")
                    owner = getattr(rows[token], "user_id", None)
                    if isinstance(owner, str):
                        out.add(f"users:{owner}")
    return out


def _task_sig(domain: Domain, task: Task) -> Signature | None:
    actions = (task.evaluation_criteria.actions or []) if task.evaluation_criteria else []
    return signature(domain, [(a.name, a.arguments) for a in actions if a.name in domain.write_tools])


def _upstream_tasks(domain: Domain, upstream_root: str | Path | None) -> list[Task]:
    if upstream_root is None:
        return []
    path = Path(upstream_root) / domain.name / "tasks.json"
    if not path.exists():
        return []
    return [Task.model_validate(_strip_unknown(t)) for t in json.loads(path.read_text())]


def _upstream_split(domain: Domain, upstream_root: str | Path, scope: AvoidScope) -> set[str] | None:
    path = Path(upstream_root) / domain.name / "split_tasks.json"
    if not path.exists():
        return None
    return set(json.loads(path.read_text()).get(scope, []))


def _writes_of(domain: Domain, task: Task) -> list[tuple[str, dict[str, Any]]]:
    actions = (task.evaluation_criteria.actions or []) if task.evaluation_criteria else []
    return [(a.name, a.arguments) for a in actions if a.name in domain.write_tools]


def _index_writes(writes: dict[str, list[str]], domain: Domain, origin: str, tasks: list[Task]) -> None:
    """Add each task's single gold writes to ``writes`` (write digest -> 'origin:task id', once each)."""
    for task in tasks:
        for name, args in _writes_of(domain, task):
            ids = writes.setdefault(write_digest(name, args), [])
            if f"{origin}:{task.id}" not in ids:
                ids.append(f"{origin}:{task.id}")


def _index_tasks(
    domain: Domain, sources: list[tuple[str, list[Task]]]
) -> tuple[dict[Signature, list[str]], dict[str, list[str]]]:
    """(signature -> task ids, write digest -> task ids) of the given task sets, bundled write digests added."""
    sigs: dict[Signature, list[str]] = {}
    writes: dict[str, list[str]] = {}
    for origin, tasks in sources:
        for task in tasks:
            sig = _task_sig(domain, task)
            if sig is not None:
                sigs.setdefault(sig, []).append(f"{origin}:{task.id}")
        _index_writes(writes, domain, origin, tasks)
    for digest, ids in bundled_write_digests(domain.name).items():
        writes.setdefault(digest, []).extend(i for i in ids if i not in writes.get(digest, []))
    return sigs, writes


def _avoided_entities(
    domain: Domain, upstream: list[Task], upstream_root: str | Path | None, avoid_users_of: AvoidScope
) -> set[str]:
    """Entities the scope's tasks use: the installed tau2's, and upstream's from its split file when
    it is on disk, else from the bundle."""
    avoided: set[str] = set()
    try:
        scoped = domain.tasks_loader(avoid_users_of)
    except ValueError:
        scoped = []  # a domain without that split (tau2's mock has only 'base') holds nothing back
    for task in scoped:
        avoided |= task_entities(domain, task)
    split = _upstream_split(domain, upstream_root, avoid_users_of) if upstream and upstream_root is not None else None
    if split is not None:
        for task in upstream:
            if task.id in split:
                avoided |= task_entities(domain, task)
    else:
        avoided |= set(bundled_entities(domain.name).get(avoid_users_of, []))
    return avoided


def build_index(
    domain: Domain,
    upstream_root: str | Path | None = None,
    avoid_users_of: AvoidScope = "test",
) -> BaseTaskIndex:
    """Index the installed tau2's base tasks, upstream's (bundled digests) and, if given, a task set on disk.

    ``avoid_users_of`` picks whose users and entities are off limits: the test split's, or every base task's.
    """
    sources: list[tuple[str, list[Task]]] = [("tau2", domain.tasks_loader(None))]
    upstream = _upstream_tasks(domain, upstream_root)
    if upstream:
        sources.append(("upstream", upstream))
    sigs, writes = _index_tasks(domain, sources)
    avoided = _avoided_entities(domain, upstream, upstream_root, avoid_users_of)
    return BaseTaskIndex(domain.name, sigs, bundled_digests(domain.name), writes, avoided)


def upstream_bundle(domain: Domain, upstream_root: str | Path) -> dict[str, Any]:
    """What ``upstream_signatures.json`` holds for one domain besides signature digests:
    single-write digests and the entities each scope's tasks use."""
    tasks = _upstream_tasks(domain, upstream_root)
    writes: dict[str, list[str]] = {}
    _index_writes(writes, domain, "upstream", tasks)
    entities: dict[str, list[str]] = {}
    for scope in ("test", "base"):
        split = _upstream_split(domain, upstream_root, scope) or set()
        entities[scope] = sorted(set().union(*[task_entities(domain, t) for t in tasks if t.id in split]))
    return {"write_digests": dict(sorted(writes.items())), "entities": entities}


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
    return {
        k: raw[k] for k in ("id", "description", "user_scenario", "initial_state", "evaluation_criteria") if k in raw
    }
