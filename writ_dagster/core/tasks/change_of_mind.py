"""A change of mind: the user asks for one write, takes it back when the agent asks to confirm it, and
asks for another write on the same record instead.

Both writes come from the domain's ordinary blueprints, so each is legal and fully specified on the
task's DB as it stands. The first (A) is proposed and then set aside: it is never made, and what
proposing it noted in ``ctx.state`` is forgotten. The second (B) is proposed with the context pinned
to A's target, at low burden (the user has already pointed at the record and now says "that
reservation"). The gold plan holds A's reads (the agent needs them to describe A), B's reads and B's
write; tau2's DB check then fails an agent that makes A.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import replace

from writ_dagster.core.domains.pack import DomainPack
from writ_dagster.core.tasks.blueprints import Blueprint, ComposeContext, Decision, Refusal, Skip


def draw_change_of_mind(
    ctx: ComposeContext, blueprints: Sequence[Blueprint], pack: DomainPack
) -> tuple[Refusal, Decision]:
    """(A, B): A as a :class:`Refusal` whose ``declined`` write is never made, B as the write made instead.

    ``blueprints`` are those that act on one existing record (a reservation, an order); ``pack`` says
    how taking each back is said (``take_back``), how a user names the record (``record_words``) and
    which writes end a record's story (``final_tools``). Raises :class:`Skip` when no pair fits this
    user and state.
    """
    order = [bp for bp in blueprints if bp.name in pack.take_back]
    ctx.rng.shuffle(order)
    skipped: list[str] = []
    for first in order:
        saved = copy.deepcopy(ctx.state)
        try:
            a = first.propose(ctx)
        except Skip as s:
            skipped.append(f"{first.name}: {s}")
            continue
        finally:
            ctx.state = saved  # A is never made: forget what proposing it noted (a retail order's writes)
        if a.follow_up is not None or len(a.targets) != 1 or a.targets[0].split(":")[0] not in pack.record_words:
            skipped.append(f"{first.name}: not one existing record")
            continue
        b = _instead(ctx, a, order, pack, pack.take_back[first.name].noun)
        if b is None:
            skipped.append(f"{first.name}: nothing else to do with {a.targets[0]}")
            continue
        return _taken_back(pack, first.name, a), b
    raise Skip("no change of mind fits: " + "; ".join(skipped)[:400])


def _instead(
    ctx: ComposeContext, a: Decision, blueprints: Sequence[Blueprint], pack: DomainPack, noun: str
) -> Decision | None:
    """B: another write on A's record, worded as said after A takes ``noun`` back, or None."""
    burden, ctx.burden, ctx.pin = ctx.burden, "low", a.targets[0]
    try:
        for bp in blueprints:
            saved = copy.deepcopy(ctx.state)
            try:
                b = bp.propose(ctx)
            except Skip:
                ctx.state = saved
                continue
            same_final = b.write[0] == a.write[0] and a.write[0] in pack.final_tools
            if b.write == a.write or same_final or b.targets != a.targets or b.follow_up is not None:
                ctx.state = saved  # not made either
                continue
            said = _said_after(b, a, pack, noun)
            if said is not None:
                return said
            ctx.state = saved
        return None
    finally:
        ctx.burden, ctx.pin = burden, None


def _record_phrase(pack: DomainPack, target: str) -> tuple[re.Pattern[str], str]:
    """How a low-burden request names ``target`` ("order #W1 (with the Lamp)"), and what replaces it."""
    kind, key = target.split(":", 1)
    word = pack.record_words[kind]
    return re.compile(rf"\b{word} {re.escape(key)}(?: \(with the [^)]*\))?"), f"that {word}"


def _said_after(b: Decision, a: Decision, pack: DomainPack, noun: str) -> Decision | None:
    """B's request as the user words it right after taking A (``noun``) back: the record is "that
    reservation", not its id (a user who described it by its properties for A does not know the id).
    What singled the record out for A is B's evidence too, so the agent can explain it when it proposes A."""
    pattern, that = _record_phrase(pack, a.targets[0])
    if not pattern.search(b.say.action):
        return None  # a request that does not name its record would not read as being about the same one
    say = replace(
        b.say,
        action=pattern.sub(that, b.say.action),
        details=[pattern.sub(that, d) for d in b.say.details],
        takes_back=noun,
    )
    return replace(
        b, say=say, comparisons=list(a.comparisons) + list(b.comparisons), candidates=max(a.candidates, b.candidates)
    )


def _taken_back(pack: DomainPack, name: str, a: Decision) -> Refusal:
    """A as the part of the task the gold plan meets without its write."""
    does = pack.take_back[name].does
    kind, key = a.targets[0].split(":", 1)
    # The user does not ask A's figure: the agent is never scored on it, and A is dropped anyway.
    say = replace(a.say, ask="")
    return Refusal(
        reads=list(a.reads),
        say=say,
        action=does.format(x=f"{pack.record_words[kind]} {key}"),
        reason="",
        entities=list(a.entities),
        targets=list(a.targets),
        unknown=list(a.unknown),
        declined=a.write,
        comparisons=list(a.comparisons),
    )
