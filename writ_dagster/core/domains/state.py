"""Copy-on-write forks of a loaded tau2 domain DB.

tau2 judges a trajectory by hashing the whole DB after replaying it in a freshly loaded
environment (~0.7 s per airline task). The tools only ever touch a handful of entities,
so a fork shares the loaded DB and copies an entity the first time a tool looks it up by
key. Two forks of the same base are equal under tau2's hash exactly when the canonical
JSON of every entity either of them touched is equal: untouched entities are the base's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, MutableMapping
from typing import Any

from pydantic import BaseModel

EntityKey = tuple[str, str]

_MISSING = object()


def canonical_json(value: Any) -> str:
    """The JSON text tau2 hashes for a value (``tau2.utils.get_dict_hash``'s encoding)."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    return json.dumps(value, sort_keys=True, default=str)


class OverlayTable(MutableMapping):
    """A dict-like table over a shared base dict that copies entities on keyed access.

    Keyed reads (``table[key]``) hand out a private deep copy, since tau2 tools mutate the
    objects they look up. Iteration (``values()``, ``items()``) hands out the shared
    objects: tau2's tools only iterate to search, never to mutate — a test holds the base
    DB's hash fixed across many forks to keep that assumption honest.
    """

    __slots__ = ("_base", "_local", "_deleted")

    def __init__(self, base: dict[str, Any]) -> None:
        self._base = base
        self._local: dict[str, Any] = {}
        self._deleted: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        local = self._local.get(key, _MISSING)
        if local is not _MISSING:
            return local
        if key in self._deleted:
            raise KeyError(key)
        copy = clone(self._base[key])
        self._local[key] = copy
        return copy

    def __setitem__(self, key: str, value: Any) -> None:
        self._deleted.discard(key)
        self._local[key] = value

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self._local.pop(key, None)
        self._deleted.add(key)

    def __contains__(self, key: object) -> bool:
        if key in self._local:
            return True
        return key in self._base and key not in self._deleted

    def __iter__(self) -> Iterator[str]:
        for key in self._base:
            if key not in self._deleted:
                yield key
        for key in self._local:
            if key not in self._base:
                yield key

    def __len__(self) -> int:
        extra = sum(1 for k in self._local if k not in self._base)
        return len(self._base) - len(self._deleted) + extra

    def values(self) -> Iterator[Any]:  # type: ignore[override]  # an iterator, not a ValuesView: cheaper
        # Searches iterate whole tables on every call: take the plain dict's path when we can.
        if not self._local and not self._deleted:
            return iter(self._base.values())
        local, base = self._local, self._base
        return iter([local[k] if k in local else base[k] for k in self])

    def items(self) -> Iterator[tuple[str, Any]]:  # type: ignore[override]  # an iterator, as values()
        if not self._local and not self._deleted:
            return iter(self._base.items())
        local, base = self._local, self._base
        return iter([(k, local[k] if k in local else base[k]) for k in self])

    def touched(self) -> set[str]:
        """Keys this fork may have changed (looked up, written or deleted)."""
        return set(self._local) | self._deleted

    def current(self, key: str) -> Any:
        """The fork's value for ``key`` without copying it, or ``_MISSING``."""
        if key in self._local:
            return self._local[key]
        if key in self._deleted:
            return _MISSING
        return self._base.get(key, _MISSING)


def peek(table: Any, key: str) -> Any:
    """A record without the private copy a fork's keyed lookup makes; read-only use only.

    Composing compares many records, and copying each one on every look would cost more than
    the rest of composing together. Plain dicts (an unforked DB) are read directly.
    """
    current = getattr(table, "current", None)
    return current(key) if current is not None else table[key]


def _deep(value: Any) -> Any:
    import copy

    return copy.deepcopy(value)


_ATOMS = (str, int, float, bool, type(None))


def clone(value: Any) -> Any:
    """A deep copy of a DB entity: pydantic models, dicts and lists of immutable leaves.

    Several times faster than ``model_copy(deep=True)``, which goes through ``copy.deepcopy``
    and its memo for every leaf; anything else falls back to ``copy.deepcopy``.
    """
    if isinstance(value, _ATOMS):
        return value
    if isinstance(value, BaseModel):
        cls = value.__class__
        new = cls.__new__(cls)
        object.__setattr__(new, "__dict__", {k: clone(v) for k, v in value.__dict__.items()})
        object.__setattr__(new, "__pydantic_fields_set__", set(value.__pydantic_fields_set__))
        extra = value.__pydantic_extra__
        object.__setattr__(new, "__pydantic_extra__", None if extra is None else clone(extra))
        private = value.__pydantic_private__
        object.__setattr__(new, "__pydantic_private__", None if private is None else _deep(private))
        return new
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return _deep(value)


class BaseState:
    """A loaded domain DB shared by every fork, with a cache of its entities' JSON."""

    def __init__(self, db: BaseModel) -> None:
        self.db = db
        self.db_class = type(db)
        self.tables: dict[str, dict[str, Any]] = {}
        self.scalars: dict[str, Any] = {}
        for name in type(db).model_fields:
            value = getattr(db, name)
            if isinstance(value, dict):
                self.tables[name] = value
            else:
                self.scalars[name] = value
        self._json_cache: dict[EntityKey, str | None] = {}

    def base_json(self, table: str, key: str) -> str | None:
        """Canonical JSON of a base entity (None when the base lacks it), cached."""
        ek = (table, key)
        cached = self._json_cache.get(ek, _MISSING)
        if cached is _MISSING:
            source = self.tables[table] if table in self.tables else None
            if source is None:
                cached = canonical_json(self.scalars[key])
            else:
                value = source.get(key, _MISSING)
                cached = None if value is _MISSING else canonical_json(value)
            self._json_cache[ek] = cached
        return cached  # type: ignore[return-value]  # a str or None once looked up (the sentinel is replaced)

    def fork(self) -> "Fork":
        """A new copy-on-write view of this DB."""
        return Fork(self)

    def hash(self) -> str:
        """tau2's own hash of the base DB (slow: dumps everything)."""
        return hashlib.sha256(canonical_json(self.db).encode()).hexdigest()


class Fork:
    """One task's private view of the shared DB, usable wherever tau2 expects the DB."""

    def __init__(self, base: BaseState) -> None:
        self.base = base
        self.tables = {name: OverlayTable(rows) for name, rows in base.tables.items()}
        scalars = {name: _deep(value) for name, value in base.scalars.items()}
        # model_construct skips validation: the overlays stand in for the dicts as they are.
        # (_fields_set named, so a type checker does not take the ** tables for it)
        self.db = base.db_class.model_construct(_fields_set=None, **self.tables, **scalars)

    def changes(self) -> dict[EntityKey, str | None]:
        """Canonical JSON of every entity that differs from the base (None = removed).

        Two forks of one base have equal tau2 DB hashes iff their ``changes()`` are equal.
        """
        out: dict[EntityKey, str | None] = {}
        for name, table in self.tables.items():
            for key in table.touched():
                value = table.current(key)
                now = None if value is _MISSING else canonical_json(value)
                if now != self.base.base_json(name, key):
                    out[(name, key)] = now
        for name in self.base.scalars:
            now = canonical_json(getattr(self.db, name))
            if now != self.base.base_json("", name):
                out[("", name)] = now
        return out

    def digest(self) -> str:
        """A short, order-free digest of ``changes()``."""
        payload = json.dumps(sorted(self.changes().items()), default=str)
        return hashlib.sha256(payload.encode()).hexdigest()

    def materialize(self) -> BaseModel:
        """A full, independent DB model equal to this fork (for cross-checks against tau2)."""
        full: dict[str, Any] = {}
        for name, table in self.tables.items():
            full[name] = {k: clone(v) for k, v in table.items()}
        for name in self.base.scalars:
            full[name] = _deep(getattr(self.db, name))
        return self.base.db_class.model_construct(**full)
