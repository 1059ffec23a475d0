"""The one protocol through which a domain tells the core what only it knows.

tau2 gives each domain's tools, their kinds (read, write, generic), its policy and its DB
(:mod:`writ_dagster.core.domains.registry`). What WRIT needs beyond that, the names of the
domain's tools, the argument names of its records, its payment-id forms, how its users identify
themselves, lives in the domain's
own folder as a :class:`DomainPack` subclass (``PACK`` in its ``pack`` module), found
through the registry by :func:`pack_of`; the core asks the pack and names no domain tool
(``tests/test_domain_folders.py`` checks it). A domain that brings no pack gets this class: the
generic answers, which suit any tau2-style domain.

The pack declares the part kinds its composer can produce (:data:`PartKind`, the ``kind`` of
:mod:`writ_dagster.core.tasks.intent`'s parts); synthesis draws only those. Each kind beyond a
plain write is backed by the composer's blueprints of that kind (:data:`BLUEPRINT_LISTS` names the
composer attribute holding them).

Besides the pack, a domain's folder holds its composer (``composer.build_composer``) and its
wording (``wording.WORDING``); see ``docs/layout.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, Literal, get_args

from writ_dagster.core.domains.registry import Domain
from writ_dagster.core.language.pools import pools, shared

PartKind = Literal["write", "conditional", "refusal", "transfer", "information", "change_of_mind"]
PART_KINDS: tuple[PartKind, ...] = get_args(PartKind)

# The composer attribute holding the blueprints of each part kind beyond a plain write (``blueprints``).
BLUEPRINT_LISTS: dict[PartKind, str] = {
    "conditional": "conditionals",
    "refusal": "refusals",
    "transfer": "transfers",
    "information": "questions",
    "change_of_mind": "switchable",
}

Call = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class TakeBack:
    """How a write the user takes back is said: by the agent, which will not make it, and by the user."""

    does: str  # what the agent says it will not do, ``{x}`` the record: "cancel {x}"
    noun: str  # what the user takes back: "the cancellation"


@dataclass(frozen=True)
class IdField:
    """One detail a domain's users identify themselves by.

    Its words (how the user names it, what shows an agent asks for it) are the
    ``identification.fields.<name>`` pools of the domain's phrases.yaml, else of the shared one
    (:func:`identification_words`)."""

    name: str  # the lookup's argument, the key in the intent's ``identity.knows``: "user_id"
    path: str = ""  # where a user's DB record holds it: "" its key in the table, else attributes: "address.zip"
    slips: bool = True  # a user may mistype it once (two digits swapped); a name does not slip


@dataclass(frozen=True)
class Identification:
    """How a domain's users identify themselves: the details they may give and the agent's question."""

    fields: tuple[IdField, ...]
    """Every detail a user may give, in the order a slip is tried (a user gives some of them)."""

    ask: str
    """The agent's question: its key in the ``identification.asks`` pools (:func:`identification_words`)."""

    table: str = "users"
    """The DB table of the users these details find."""

    name_field: str = ""
    """The detail that holds the name the agent thanks the user by; without it, the user id's first part."""

    def finds(self, db: Any, details: Mapping[str, str]) -> bool:
        """Whether ``details`` (identification values by field name) find a user in ``db``: one record of
        :attr:`table` matches every declared field they give."""
        rows: Any = getattr(db, self.table, {})
        given = [(f, details[f.name]) for f in self.fields if f.name in details]
        keyed = next((value for f, value in given if not f.path), None)
        if keyed is not None and isinstance(rows, Mapping):
            found = rows.get(keyed)
            candidates = [found] if found is not None else []
        else:
            candidates = list(rows.values() if isinstance(rows, Mapping) else rows)
        return any(all(_at(row, f.path) == value for f, value in given if f.path) for row in candidates)


def _at(record: Any, path: str) -> Any:
    """The value at the dotted attribute ``path`` of ``record`` (None where one is missing)."""
    for name in path.split("."):
        record = getattr(record, name, None)
    return record


class DomainPack:
    """What a domain knows beyond tau2's tool list; every answer here is the generic one.

    A domain overrides the attributes and methods it has something to say on.
    """

    part_kinds: ClassVar[frozenset[PartKind]] = frozenset({"write"})
    """The kinds of task part the domain's composer produces; "write" is every domain's."""

    target_keys: ClassVar[tuple[str, ...]] = ()
    """Argument names that name the one record a write acts on ("reservation_id")."""

    record_words: ClassVar[Mapping[str, str]] = {}
    """Entity table -> how a user names one record of it ("reservations" -> "reservation"); a change of
    mind is about one record of these tables."""

    owned_tables: ClassVar[Mapping[str, str]] = {"user_id": "users"}
    """Argument name -> the table whose records belong to one user ("reservation_id" -> "reservations"):
    decontamination keeps a task off the records a τ²-bench task uses."""

    id_pattern: ClassVar[str] = r"(?!)"
    """How an id of those records looks in a task's text, a regular expression (by default none is found)."""

    named_in_words: ClassVar[frozenset[str]] = frozenset()
    """Argument names whose values an agent names in words, not by id ("your visa card ending in 2413"): the
    compliance filter does not look for them in the agent's description of a write."""

    take_back: ClassVar[Mapping[str, TakeBack]] = {}
    """Blueprint name -> how taking its write back is said; the blueprints a change of mind draws from."""

    final_tools: ClassVar[frozenset[str]] = frozenset()
    """Writes that end a record's story: asking for the same write again is no change of mind."""

    identification: ClassVar[Identification] = Identification(fields=(IdField("user_id"),), ask="user_id")
    """The details a user identifies themself by and how the agent asks for them (by default the user id)."""

    def payment_methods(self, domain: Domain, user_id: str) -> frozenset[str]:
        """The payment method ids ``user_id`` holds in the base DB (what a write pays with): the
        ``payment_methods`` of their record in the users table; none if they have none."""
        db: Any = domain.base.db  # tau2's DB models are typed as BaseModel
        user = getattr(db, "users", {}).get(user_id)
        return frozenset(getattr(user, "payment_methods", None) or ())

    def payment_words(self, method: Any | None, payment_id: str) -> str:
        """Words for payment method ``payment_id`` (``method``: its DB record, None if unknown), as a customer
        names it ("visa credit card ending in 2413"); the id itself by default."""
        return payment_id

    def extra_amounts(self, domain: Domain, name: str, arguments: dict[str, Any]) -> dict[float, str]:
        """Amounts write ``name`` decides that neither its arguments nor its result print (signed as
        :func:`writ_dagster.core.domains.entities.money_amounts` signs them); none by default."""
        return {}

    def described_values(self, domain: Domain, value: str) -> list[Any]:
        """What ``value``, a value a task names, stands for in the base DB that a line may say in its place
        (a retail item id: its product's name, options and price); none by default."""
        return []

    def lookup_words(self, name: str, arguments: dict[str, Any]) -> str:
        """What an identification read ``name`` looked for, as the agent says it found none."""
        given = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in arguments.items())
        return f"an account with {given}" if given else "your account"

    def stray_write(self, db: Any, user_id: str | None) -> Call | None:
        """A write no task asks for that changes ``db`` (a rehearsed agent's mistake), or None."""
        return None


_PACKS: dict[Domain, DomainPack] = {}  # one per registered Domain object (a domain registered anew gets its own)


def pack_of(domain: Domain) -> DomainPack:
    """The pack of ``domain``: its package's ``pack.PACK``, or the generic :class:`DomainPack`."""
    pack = _PACKS.get(domain)
    if pack is None:
        found = getattr(domain.part("pack"), "PACK", None)
        pack = _PACKS[domain] = found if isinstance(found, DomainPack) else DomainPack()
    return pack


@cache
def identification_words(domain: Domain) -> dict[str, Any]:
    """The ``identification`` pools for ``domain``: the shared phrases.yaml's, with the domain's own
    phrases.yaml entries (``fields``, ``asks``, ``asking``) over them."""
    words = shared()["identification"]
    own = _own_pools(domain).get("identification", {})
    return {
        "fields": {**words["fields"], **own.get("fields", {})},
        "asks": {**words["asks"], **own.get("asks", {})},
        "asking": tuple(dict.fromkeys([*words["asking"], *own.get("asking", ())])),
    }


def _own_pools(domain: Domain) -> dict[str, Any]:
    """The pools of the domain's own phrases.yaml (none if its folder has none)."""
    if domain.package is None:
        return {}
    try:
        return pools(domain.package)
    except FileNotFoundError:
        return {}


def id_label(domain: Domain, field: str) -> str:
    """How a user names identification detail ``field`` ("zip code"); the field's name if no pool says."""
    return str(identification_words(domain)["fields"].get(field, {}).get("label", field))
