"""How the scripted agent and user put a domain's writes and amounts into words.

:class:`Wording` holds the generic sentences, which work for any domain (less naturally: they
list a write's arguments). A domain's package overrides them per tool in its ``wording``
module (``WORDING``, a subclass), reached through the registry with :func:`wording_of`, so a
new domain brings its wording in its own folder and nothing here changes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, ClassVar

from writ_dagster.core.domains.registry import Domain
from writ_dagster.core.language.pools import pick, shared

# The pools are data: the "wording" section of core/language/phrases.yaml.
_W = shared()["wording"]
PAYMENT_KEYS = ("payment_id", "payment_methods", "payment_method_id")


def join(parts: list[str]) -> str:
    """Words joined as a sentence lists them: "a", "a and b", "a, b and c"."""
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


class Wording:
    """Generic wording of writes; each method is overridden per tool by a domain's subclass.

    Methods that take ``rng`` have several phrasings; without one they give the first.
    """

    things = "account"  # what the user says they need help with ("my reservations")

    write_templates: ClassVar[Mapping[str, str]] = {}
    """Write tool -> the template of its description (a domain folder's ``wording.describe_write``
    pools), its slots filled by :meth:`details`; a tool without one gets its arguments listed."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain

    def describe_write(self, user_id: str, name: str, args: dict[str, Any]) -> str:
        """The details of a write, as the agent lists them before asking for confirmation."""
        template = self.write_templates.get(name)
        if template is None:
            listed = ", ".join(f"{k}: {json.dumps(v)}" for k, v in args.items())
            return f"call {name} with {listed}"
        return str(template).format_map(self.details(user_id, name, args))

    def details(self, user_id: str, name: str, args: dict[str, Any]) -> Mapping[str, Any]:
        """The slots of write ``name``'s description template (:attr:`write_templates`); none by default."""
        return {}

    def write_reminder(self, name: str, rng: random.Random | None = None) -> str:
        """A policy reminder that belongs with the confirmation of some writes (``rng`` picks its words)."""
        return ""

    def done_summary(self, name: str, args: dict[str, Any], output: str, rng: random.Random | None = None) -> str:
        """What the agent says once a write has gone through."""
        return pick(rng, _W["done_summary"]["say"])

    def subject(self, name: str, args: dict[str, Any]) -> str:
        """A short name for what a write is about ("reservation X", "order Y", "the new booking")."""
        return pick(None, _W["subject"]["any"])

    def details_wanted(self, name: str, args: dict[str, Any]) -> list[str]:
        """The supporting details to ask for, in the order they are asked for."""
        if any(k in args for k in PAYMENT_KEYS):
            return [_W["details_wanted"]["payment"]]
        return []

    def figure_sentence(self, name: str, sign: str, value: str, rng: random.Random | None = None) -> str:
        """A sentence stating an amount ``value`` ("$12.5"; ``sign`` '+' charged, '-' refunded) of a write."""
        return pick(rng, _W["figure_sentence"]["say"], value=value)


@lru_cache(maxsize=8)
def wording_of(domain: Domain) -> Wording:
    """The wording of ``domain``: its package's ``wording.WORDING``, or the generic one."""
    cls = getattr(domain.part("wording"), "WORDING", Wording)
    return cls(domain)
