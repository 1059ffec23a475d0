"""How a user points at one of their reservations or payment methods, and what it costs to find.

At low burden the user names the id. At high burden they describe it by properties, and
the agent must read the user's profile and every reservation and compare them before the
target is determined; a description is used only if exactly one reservation fits it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.language import formats
from writ_dagster.core.tasks.blueprints import Call, ComposeContext, Skip, compare
from writ_dagster.core.tasks.models import Comparison

CABIN_WORDS = {"basic_economy": "basic economy", "economy": "economy", "business": "business"}


@dataclass
class Located:
    """A reservation the user pointed at."""

    reservation: Any
    phrase: str
    reads: list[Call]
    candidates: int
    known: list[str]
    unknown: list[str]
    comparisons: list[Comparison] = field(default_factory=list)


def user_reservations(ctx: ComposeContext) -> list[Any]:
    user = ctx.db.users[ctx.user_id]
    return [ctx.db.reservations[r] for r in user.reservations if r in ctx.db.reservations]


def _unique(items: list[Any], key: Callable[[Any], Any], best: Callable = max) -> Any | None:
    if not items:
        return None
    top = best(key(x) for x in items)
    winners = [x for x in items if key(x) == top]
    return winners[0] if len(winners) == 1 else None


def _price(r: Any) -> int:
    return sum(f.price for f in r.flights) * len(r.passengers)


def _rid(r: Any) -> str:
    return str(r.reservation_id)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


Selected = tuple[Any, str, Comparison]  # (reservation, how the user describes it, how it was singled out)


def _route(r: Any) -> tuple[str, str]:
    """Where a reservation starts and where it goes. Some of tau2's round trips list their origin as
    their destination too; a traveller names the far end, so take the first flight's arrival."""
    far = r.destination
    if far == r.origin and r.flights and r.flights[0].destination != r.origin:
        far = r.flights[0].destination
    return r.origin, far


def _by_route(cities: dict[str, str], rs: list[Any]) -> Selected | None:
    """The first (by id) reservation whose route no other reservation shares."""
    by_route: dict[tuple[str, str], list[Any]] = {}
    for r in rs:
        by_route.setdefault(_route(r), []).append(r)
    singles = [v[0] for v in by_route.values() if len(v) == 1]
    if not singles:
        return None
    r = sorted(singles, key=lambda x: x.reservation_id)[0]
    kind = "round trip" if r.flight_type == "round_trip" else "one-way trip"
    origin, far = _route(r)
    return (
        r,
        f"your {kind} from {cities[origin]} to {cities[far]}",
        compare("reservations", "the route you described", r, rs, _rid, lambda x: " to ".join(_route(x))),
    )


def _most_passengers_to(cities: dict[str, str], rs: list[Any]) -> Selected | None:
    """Among reservations to one destination (the first, by code, where it decides), the one with the most passengers."""
    dests: dict[str, list[Any]] = {}
    for r in rs:
        dests.setdefault(r.destination, []).append(r)
    for dest, group in sorted(dests.items()):
        r = _unique(group, lambda x: len(x.passengers)) if len(group) >= 2 else None
        if r is not None:
            return (
                r,
                f"the reservation to {cities[dest]} with the most passengers",
                compare(
                    f"reservations to {cities[dest]}",
                    "the most passengers",
                    r,
                    group,
                    _rid,
                    lambda x: _plural(len(x.passengers), "passenger"),
                ),
            )
    return None


def _most_recent(cities: dict[str, str], rs: list[Any]) -> Selected | None:
    """The reservation booked last."""
    r = _unique(rs, lambda x: x.created_at)
    if r is None or len(rs) < 2:
        return None
    return (
        r,
        "the reservation you booked most recently",
        compare(
            # the time too: several reservations are often booked on the same day
            "reservations",
            "the latest booking time",
            r,
            rs,
            _rid,
            lambda x: f"booked {formats.day(x.created_at)} at {x.created_at[11:16]}",
        ),
    )


def _most_expensive(cities: dict[str, str], rs: list[Any]) -> Selected | None:
    """The reservation with the highest total fare."""
    r = _unique(rs, _price)
    if r is None or len(rs) < 2:
        return None
    return (
        r,
        "the reservation with the highest total fare (all its flights, all passengers)",
        compare("reservations", "the highest total fare", r, rs, _rid, lambda x: formats.money(_price(x))),
    )


def _earliest_in_cabin(cities: dict[str, str], rs: list[Any]) -> Selected | None:
    """Among reservations in one cabin (the first, by name, where it decides), the one flying first."""
    cabins: dict[str, list[Any]] = {}
    for r in rs:
        cabins.setdefault(r.cabin, []).append(r)
    for cabin, group in sorted(cabins.items()):
        r = _unique(group, lambda x: min(f.date for f in x.flights), best=min) if len(group) >= 2 else None
        if r is not None:
            return (
                r,
                f"your {CABIN_WORDS[cabin]} reservation with the earliest first flight",
                compare(
                    f"{CABIN_WORDS[cabin]} reservations",
                    "the earliest first flight",
                    r,
                    group,
                    _rid,
                    lambda x: f"first flight on {formats.day(min(f.date for f in x.flights))}",
                ),
            )
    return None


def _selectors(cities: dict[str, str]) -> list[Callable[[list[Any]], Selected | None]]:
    """Every way a user may describe one of their reservations, each naming places in ``cities``' words."""
    return [
        partial(select, cities)
        for select in (_by_route, _most_passengers_to, _most_recent, _most_expensive, _earliest_in_cabin)
    ]


def locate_reservation(
    ctx: ComposeContext,
    cities: dict[str, str],
    legal: Callable[[Any], bool],
    extra_reads: Callable[[Any], list[Call]] = lambda r: [],
) -> Located:
    """Pick a legal, untouched reservation of the user and say how the user refers to it."""
    rs = user_reservations(ctx)
    ok = [r for r in rs if ctx.fresh(f"reservations:{r.reservation_id}") and legal(r)]
    if not ok:
        raise Skip("no eligible reservation")
    if ctx.burden == "low":
        r = ctx.rng.choice(sorted(ok, key=lambda x: x.reservation_id))
        return Located(
            r,
            f"reservation {r.reservation_id}",
            [("get_reservation_details", {"reservation_id": r.reservation_id})] + extra_reads(r),
            1,
            [],
            [],
        )
    reads: list[Call] = [("get_user_details", {"user_id": ctx.user_id})]
    reads += [("get_reservation_details", {"reservation_id": r.reservation_id}) for r in rs]
    selectors = _selectors(cities)
    ctx.rng.shuffle(selectors)
    ok_ids = {r.reservation_id for r in ok}
    for select in selectors:
        hit = select(rs)
        if hit is not None and hit[0].reservation_id in ok_ids:
            r, phrase, how = hit
            full = reads + extra_reads(r)
            ctx.require_evidence(full)
            unknown = ctx.words.choice(
                (
                    f"You do not know the reservation id of {phrase}; describe it instead.",
                    f"You don't have the confirmation number for {phrase} at hand, only what you remember of it.",
                    f"You can't find the reservation number of {phrase}, so you describe it.",
                )
            )
            return Located(r, phrase, full, len(rs), [], [unknown], [how])
    raise Skip("no description singles out an eligible reservation")


@dataclass
class Payment:
    method: Any
    phrase: str
    comparisons: list[Comparison] = field(default_factory=list)


def _method_name(m: Any) -> str:
    return f"the {m.brand} card ending in {m.last_four}" if m.source == "credit_card" else str(m.id)


def describe_method(m: Any) -> str:
    if m.source == "credit_card":
        return f"your {m.brand} credit card ending in {m.last_four}"
    if m.source == "gift_card":
        return f"your gift card {m.id}"
    return f"your travel certificate {m.id}"


def choose_payment(ctx: ComposeContext, valid: Callable[[Any], bool]) -> Payment:
    """A payment method the user picks: by name at low burden, by a balance comparison at high."""
    # Only methods the user held before the call: a certificate sent earlier in this task has an id the
    # user cannot know when they start (tau2 makes it up on sending).
    base_db: Any = get_domain("airline").base.db  # tau2's DB models are typed as BaseModel
    held = base_db.users[ctx.user_id].payment_methods
    methods = sorted(
        (m for m in ctx.db.users[ctx.user_id].payment_methods.values() if m.id in held), key=lambda m: m.id
    )
    ok = [m for m in methods if valid(m)]
    if not ok:
        raise Skip("no payment method can cover this")
    if ctx.burden == "high":
        gifts = [m for m in methods if m.source == "gift_card"]
        if len(gifts) >= 2:
            best = _unique(gifts, lambda m: m.amount)
            if best is not None and valid(best):
                return Payment(
                    best,
                    "the gift card with the largest balance",
                    [
                        compare(
                            "gift cards",
                            "the largest balance",
                            best,
                            gifts,
                            _method_name,
                            lambda m: f"{formats.money(m.amount)} left",
                        )
                    ],
                )
        credits = [m for m in methods if m.source == "credit_card"]
        if len(credits) == 1 and valid(credits[0]) and len(methods) >= 2:
            return Payment(
                credits[0],
                "your credit card (you only have one)",
                [
                    compare(
                        "payment methods",
                        "the only credit card",
                        credits[0],
                        methods,
                        _method_name,
                        lambda m: str(m.source).replace("_", " "),
                    )
                ],
            )
    m = ctx.rng.choice(ok)
    return Payment(m, describe_method(m))
