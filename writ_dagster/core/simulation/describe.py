"""How the scripted oracle agent puts write actions and amounts into words.

One function per job: the details of a write before confirmation, what was done after it,
what to ask for when the user has not given a write's details, and a sentence per amount
to communicate. The sentences are each domain's own (its package's ``wording`` module, see
:mod:`writ_dagster.core.domains.wording`); tools a domain does not word fall back to
generic sentences that list the arguments, so a new domain works without changes here.
"""

from __future__ import annotations

import random
from typing import Any

from writ_dagster.core.domains.registry import Domain
from writ_dagster.core.domains.wording import join, wording_of
from writ_dagster.core.language import formats
from writ_dagster.core.language.pools import pick, shared
from writ_dagster.core.users.outline import Figure, WriteStep

# The words are data: the "wording" section of core/language/phrases.yaml.
_WORDS = shared()["wording"]


def describe_write(domain: Domain, user_id: str, name: str, args: dict[str, Any]) -> str:
    """The details of a write, as the agent lists them before asking for confirmation."""
    return wording_of(domain).describe_write(user_id, name, args)


def write_reminder(domain: Domain, name: str, rng: random.Random | None = None) -> str:
    """A policy reminder that belongs with the confirmation of some writes."""
    return wording_of(domain).write_reminder(name, rng)


def done_summary(domain: Domain, name: str, args: dict[str, Any], output: str, rng: random.Random | None = None) -> str:
    """What the agent says once a write has gone through (``rng`` picks among its phrasings)."""
    return wording_of(domain).done_summary(name, args, output, rng)


def subject(domain: Domain, name: str, args: dict[str, Any]) -> str:
    """A short name for what a write is about ("reservation X", "order Y", "the new booking")."""
    return wording_of(domain).subject(name, args)


def details_wanted(domain: Domain, name: str, args: dict[str, Any]) -> str:
    """The supporting details to ask for when the user has stated a request without them."""
    wants = wording_of(domain).details_wanted(name, args)
    if not wants:
        wants = [_WORDS["details_wanted"]["any"]]
    return join(wants)


def details_question(domain: Domain, name: str, args: dict[str, Any]) -> str:
    """What to ask for when the user has stated a request but not its supporting details."""
    return pick(None, _WORDS["details_question"], wants=details_wanted(domain, name, args))


def figure_sentence(domain: Domain, write: WriteStep, figure: Figure, rng: random.Random | None = None) -> str:
    """A sentence stating an amount to communicate, in the words that fit its write."""
    return wording_of(domain).figure_sentence(write.name, figure.sign, formats.money(figure.value), rng)
