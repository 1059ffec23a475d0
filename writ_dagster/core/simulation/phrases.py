"""The scripted agent's grammar: many phrasings per dialogue act, picked by a seeded RNG.

Each act is built from slots (an opener, a core, a tail) whose choices combine into one
sentence, so a batch of conversations speaks in hundreds of sentence shapes rather than one
per act. Every function takes the conversation's ``random.Random`` and is deterministic for
a given seed. What the agent *says* (ids, amounts, the comparison) comes from the caller;
this module only chooses the words around it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from writ_dagster.core.domains.verify import TRANSFER_MESSAGE
from writ_dagster.core.language import formats
from writ_dagster.core.language.pools import pick, shared, slot_names
from writ_dagster.core.tasks.instructions import capitalize
from writ_dagster.core.tasks.models import Comparison, Condition

# The pools are data: the "agent" section of core/language/phrases.yaml.
_S = shared()
_NUMBERS: tuple[str, ...] = _S["agent"]["numbers"]
LISTED_OTHERS = 3  # set-aside candidates named one by one; the rest are counted


def number_words(n: int) -> str:
    """Small counts as words ("four"), larger ones as digits."""
    return _NUMBERS[n] if 0 <= n < len(_NUMBERS) else str(n)


def join_words(parts: Sequence[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    parts = list(parts)
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1] if parts else ""


def _shaped(rng: random.Random, pool: dict[str, Any], **given: str) -> str:
    """One of ``pool["shapes"]``, drawn by ``rng``, its slots filled: ``given`` ones as they are, every
    other slot with a pick from the pool of its name, in the order the shape names them."""
    shape = pick(rng, pool["shapes"])
    slots = dict(given)
    for name in slot_names(shape):
        if name not in slots:
            slots[name] = pick(rng, pool[name])
    return shape.format(**slots)


# -- opening and identification -------------------------------------------------------------
_LEAD_TOLD: tuple[str, ...] = _S["agent"]["lead_told"]
_LEAD_UNTOLD: tuple[str, ...] = _S["agent"]["lead_untold"]
_FIRST: tuple[str, ...] = _S["agent"]["first"]
_PLEASE: tuple[str, ...] = _S["agent"]["please"]


def ask_identity(rng: random.Random, told: bool, ask: Mapping[str, Any]) -> str:
    """Ask the user to identify themself; ``ask``: the domain's question (``identification.asks.<key>``
    of the phrase pools: its ``say`` shape and the pools of the slots the agent's pools lack)."""
    slots = {
        "lead": pick(rng, _LEAD_TOLD if told else _LEAD_UNTOLD),
        "first": pick(rng, _FIRST),
        "please": pick(rng, _PLEASE),
    }
    for name in slot_names(ask["say"]):
        if name not in slots:
            slots[name] = pick(rng, ask[name] if name in ask else _S["agent"][name])
    return str(ask["say"]).format(**slots)


def not_found(rng: random.Random, what: str) -> str:
    """Say an identification lookup found nothing (``what``: "a profile with the user id X")."""
    sorry = pick(rng, _S["agent"]["not_found"]["sorry"])
    check = pick(rng, _S["agent"]["not_found"]["check"])
    return f"{sorry} {what}. {check}"


def account_open(rng: random.Random, first: str) -> str:
    """After identification, before the user has said what they need."""
    thanks = pick(rng, _S["agent"]["account_open"]["thanks"], first=first)
    found = pick(rng, _S["agent"]["account_open"]["found"])
    ask = pick(rng, _S["agent"]["account_open"]["ask"])
    return f"{thanks} {found} {ask}"


# -- between requests ---------------------------------------------------------------------
def anything_else(rng: random.Random) -> str:
    """Ask whether the user needs anything more (one sentence, many shapes: ``agent.anything_else``)."""
    pool = _S["agent"]["anything_else"]
    when = pick(rng, pool["when"])  # not "for you": some heads end in it
    return _shaped(rng, pool, when=when)


def next_topic(rng: random.Random, subject: str) -> str:
    """Lead into the next request after finishing one ("Next, regarding order X,")."""
    return pick(rng, _S["agent"]["next_topic"]["say"], subject=subject)


def details_lead(rng: random.Random) -> str:
    """Lead into asking for a request's details when nothing came before in the message."""
    return pick(rng, _S["agent"]["details_lead"]["say"])


def details_question(rng: random.Random, wants: str) -> str:
    """Ask for the supporting details of a request (``wants``: "which payment method ...")."""
    ask = pick(rng, _S["agent"]["details_question"]["ask"])
    return f"{ask} {wants}?"


def declined(rng: random.Random) -> str:
    """The user would not confirm: say the change is not made (the anything-else follows)."""
    return pick(rng, _S["agent"]["declined"]["say"])


def for_records(rng: random.Random, value: str) -> str:
    """State a figure that belongs to no single write."""
    return pick(rng, _S["agent"]["for_records"]["say"], value=value)


# -- evidence and proposals ---------------------------------------------------------------
def _others(c: Comparison) -> str:
    named = [f"{o.name} ({o.value})" for o in c.others[:LISTED_OTHERS]]
    rest = len(c.others) - len(named)
    if rest:
        named.append(f"{number_words(rest)} more")
    return join_words(named)


def evidence(rng: random.Random, c: Comparison) -> str:
    """What was compared, which one was chosen and by which value, and what was set aside.

    The sentence shapes are the ``agent.evidence`` pools: one shape is drawn, then the words its
    ``{verb}`` or ``{lead}`` slot asks for."""
    pool = _S["agent"]["evidence"]
    slots = {
        "n": number_words(len(c.others) + 1),
        "k": number_words(len(c.others)),
        "chosen": c.chosen.name,
        "value": c.chosen.value,
        "things": c.things,
        "criterion": c.criterion,
        "others": _others(c),
    }
    return capitalize(_comparison(rng, pool, c, slots))  # a shape may open with {chosen}: "the Laptop in #W..."


def _comparison(rng: random.Random, pool: dict[str, Any], c: Comparison, slots: dict[str, str]) -> str:
    """The comparison sentence as its drawn shape writes it (its first word may be lower-case)."""
    if not c.others:
        return pick(None, pool["single"], **slots)
    rest = pick(None, pool["rest_one"]) if len(c.others) == 1 else pick(rng, pool["rest"], k=slots["k"])
    if c.criterion.startswith("the only "):
        # A kind, not a measure ("the only credit card", "the only pending status"): the value names the
        # kind again, so it goes in brackets, not after "has ..." or "at ...".
        only = pool["only_kind"]
        return only[0 if rng.random() < 0.5 else 1].format(rest=rest, **slots)
    return _shaped(rng, pool, rest=rest, **slots)


def after_reads(rng: random.Random) -> str:
    """Open a proposal that follows silent lookups."""
    return pick(rng, _S["agent"]["after_reads"]["say"])


def plain_intro(rng: random.Random) -> str:
    """Open a proposal that needed no lookups."""
    return pick(rng, _S["agent"]["plain_intro"]["say"])


def plan_lead(rng: random.Random, next_one: bool = False) -> str:
    """Introduce the list of what the write will do ("Here is what I'll do")."""
    if next_one:
        return pick(rng, _S["agent"]["plan_lead"]["next"])
    return pick(rng, _S["agent"]["plan_lead"]["first"])


def instead_lead(rng: random.Random) -> str:
    """Introduce what the user asked for after taking their first request back."""
    return pick(rng, _S["agent"]["instead_lead"]["say"])


def corrected_intro(rng: random.Random) -> tuple[str, str]:
    """(intro, lead) after the user corrected a detail."""
    return (
        pick(rng, _S["agent"]["corrected_intro"]["thanks"]),
        pick(rng, _S["agent"]["corrected_intro"]["lead"]),
    )


def again_intro(rng: random.Random) -> str:
    """Open a repeated proposal."""
    return pick(rng, _S["agent"]["again_intro"]["say"])


def confirm_request(rng: random.Random) -> str:
    """Ask for an explicit yes to exactly the action just listed (one or two sentences: ``agent.confirm_request``)."""
    pool = _S["agent"]["confirm_request"]
    obj = pick(rng, pool["obj"])
    return _shaped(rng, pool, obj=obj)


# -- conditional requests ---------------------------------------------------------------
def condition_found(rng: random.Random, c: Condition) -> str:
    """The figure the reads gave and which side of the user's limit it is (said before acting on it)."""
    fig, lim = formats.money(c.figure), formats.money(c.limit)
    lead = pick(rng, _S["agent"]["condition_found"]["lead"])
    verb = pick(rng, _S["agent"]["condition_found"]["verb"])
    if c.kind == "cost":
        side = (
            pick(rng, _S["agent"]["condition_found"]["under_limit"], lim=lim)
            if c.holds
            else pick(rng, _S["agent"]["condition_found"]["over_limit"], lim=lim)
        )
    else:
        side = (
            pick(rng, _S["agent"]["condition_found"]["meets_minimum"], lim=lim)
            if c.holds
            else pick(rng, _S["agent"]["condition_found"]["short_of_minimum"], lim=lim)
        )
    return f"{lead} {c.what} {verb} {fig}, {side}."


def condition_met(rng: random.Random) -> str:
    """The user's condition holds: the proposal of the write follows."""
    return pick(rng, _S["agent"]["condition_met"]["say"])


def condition_failed(rng: random.Random, subject: str) -> str:
    """The user's condition fails: nothing is changed (``subject``: "reservation X")."""
    return pick(rng, _S["agent"]["condition_failed"]["say"], subject=subject)


# -- refusals -----------------------------------------------------------------------------
def keep_it(rng: random.Random, action: str) -> str:
    """Acknowledge a write the user takes back when asked to confirm it (``action``: "cancel reservation X")."""
    return pick(rng, _S["agent"]["keep_it"]["say"], action=action)


def answer(rng: random.Random, fact: str) -> str:
    """State what the reads found (``fact``: "you paid $1,284 in total for reservation X")."""
    lead = pick(rng, _S["agent"]["answer"]["lead"])
    return f"{lead} {fact}."


def transfer(rng: random.Random, action: str, reason: str) -> str:
    """Explain why a human agent must handle a request, then the policy's transfer message."""
    sorry = pick(rng, _S["agent"]["transfer"]["sorry"], action=action)
    hand = pick(rng, _S["agent"]["transfer"]["hand"])
    return f"{sorry} {reason}. {hand} {TRANSFER_MESSAGE}"


def refuse(rng: random.Random, action: str, reason: str) -> str:
    """Decline a request the policy forbids, giving the policy's reason (``action``: "cancel reservation X")."""
    looked = pick(rng, _S["agent"]["refuse"]["looked"])
    sorry = pick(rng, _S["agent"]["refuse"]["sorry"], action=action)
    return " ".join(p for p in (looked, f"{sorry} {reason}.") if p)
