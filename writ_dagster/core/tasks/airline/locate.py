"""How a user points at one of their reservations or payment methods, and what it costs to find.

At low burden the user names the id. At high burden they describe it by properties, and
the agent must read the user's profile and every reservation and compare them before the
target is determined; a description is used only if exactly one reservation fits it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from writ_dagster.core.tasks.blueprints import Call, ComposeContext, Skip

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


def _selectors(cities: dict[str, str]) -> list[Callable[[list[Any]], tuple[Any, str] | None]]:
    def route(rs: list[Any]) -> tuple[Any, str] | None:
        by_route: dict[tuple[str, str], list[Any]] = {}
        for r in rs:
            by_route.setdefault((r.origin, r.destination), []).append(r)
        singles = [v[0] for v in by_route.values() if len(v) == 1]
        if not singles:
            return None
        r = sorted(singles, key=lambda x: x.reservation_id)[0]
        kind = "round trip" if r.flight_type == "round_trip" else "one-way trip"
        return r, f"your {kind} from {cities[r.origin]} to {cities[r.destination]}"

    def most_passengers_to(rs: list[Any]) -> tuple[Any, str] | None:
        dests: dict[str, list[Any]] = {}
        for r in rs:
            dests.setdefault(r.destination, []).append(r)
        for dest, group in sorted(dests.items()):
            if len(group) >= 2:
                r = _unique(group, lambda x: len(x.passengers))
                if r is not None:
                    return r, f"the reservation to {cities[dest]} with the most passengers"
        return None

    def most_recent(rs: list[Any]) -> tuple[Any, str] | None:
        r = _unique(rs, lambda x: x.created_at)
        return (r, "the reservation you booked most recently") if r is not None and len(rs) >= 2 else None

    def most_expensive(rs: list[Any]) -> tuple[Any, str] | None:
        r = _unique(rs, _price)
        return (r, "the reservation with the highest total fare (all its flights, all passengers)") if r is not None and len(rs) >= 2 else None

    def earliest_in_cabin(rs: list[Any]) -> tuple[Any, str] | None:
        cabins: dict[str, list[Any]] = {}
        for r in rs:
            cabins.setdefault(r.cabin, []).append(r)
        for cabin, group in sorted(cabins.items()):
            if len(group) >= 2:
                r = _unique(group, lambda x: min(f.date for f in x.flights), best=min)
                if r is not None:
                    return r, f"your {CABIN_WORDS[cabin]} reservation with the earliest first flight"
        return None

    return [route, most_passengers_to, most_recent, most_expensive, earliest_in_cabin]


def locate_reservation(ctx: ComposeContext, cities: dict[str, str], legal: Callable[[Any], bool],
                       extra_reads: Callable[[Any], list[Call]] = lambda r: []) -> Located:
    """Pick a legal, untouched reservation of the user and say how the user refers to it."""
    rs = user_reservations(ctx)
    ok = [r for r in rs if ctx.fresh(f"reservations:{r.reservation_id}") and legal(r)]
    if not ok:
        raise Skip("no eligible reservation")
    if ctx.burden == "low":
        r = ctx.rng.choice(sorted(ok, key=lambda x: x.reservation_id))
        return Located(r, f"reservation {r.reservation_id}",
                       [("get_reservation_details", {"reservation_id": r.reservation_id})] + extra_reads(r), 1,
                       [], [])
    reads: list[Call] = [("get_user_details", {"user_id": ctx.user_id})]
    reads += [("get_reservation_details", {"reservation_id": r.reservation_id}) for r in rs]
    selectors = _selectors(cities)
    ctx.rng.shuffle(selectors)
    ok_ids = {r.reservation_id for r in ok}
    for select in selectors:
        hit = select(rs)
        if hit is not None and hit[0].reservation_id in ok_ids:
            r, phrase = hit
            full = reads + extra_reads(r)
            ctx.require_evidence(full)
            return Located(r, phrase, full, len(rs), [],
                           [f"You do not know the reservation id of {phrase}; describe it instead."])
    raise Skip("no description singles out an eligible reservation")


@dataclass
class Payment:
    method: Any
    phrase: str


def describe_method(m: Any) -> str:
    if m.source == "credit_card":
        return f"your {m.brand} credit card ending in {m.last_four}"
    if m.source == "gift_card":
        return f"your gift card {m.id}"
    return f"your travel certificate {m.id}"


def choose_payment(ctx: ComposeContext, valid: Callable[[Any], bool]) -> Payment:
    """A payment method the user picks: by name at low burden, by a balance comparison at high."""
    methods = sorted(ctx.db.users[ctx.user_id].payment_methods.values(), key=lambda m: m.id)
    ok = [m for m in methods if valid(m)]
    if not ok:
        raise Skip("no payment method can cover this")
    if ctx.burden == "high":
        gifts = [m for m in methods if m.source == "gift_card"]
        if len(gifts) >= 2:
            best = _unique(gifts, lambda m: m.amount)
            if best is not None and valid(best):
                return Payment(best, "the gift card with the largest balance")
        credits = [m for m in methods if m.source == "credit_card"]
        if len(credits) == 1 and valid(credits[0]) and len(methods) >= 2:
            return Payment(credits[0], "your credit card (you only have one)")
    m = ctx.rng.choice(ok)
    return Payment(m, describe_method(m))
