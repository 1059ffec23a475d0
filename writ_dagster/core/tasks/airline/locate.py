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
from writ_dagster.core.tasks.airline.phrases import SAY
from writ_dagster.core.tasks.blueprints import Call, ComposeContext, Skip, compare
from writ_dagster.core.tasks.models import Comparison

CABIN_WORDS: dict[str, str] = SAY["cabins"]
_SAY: dict[str, Any] = SAY["locate"]
_PAY: dict[str, str] = SAY["payment"]


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
    kind = SAY["trip_kinds"]["round_trip" if r.flight_type == "round_trip" else "one_way"]
    origin, far = _route(r)
    return (
        r,
        _SAY["by_route"].format(trip=kind, origin=cities[origin], destination=cities[far]),
        compare(
            _SAY["reservations"],
            _SAY["route_criterion"],
            r,
            rs,
            _rid,
            lambda x: _SAY["route"].format(origin=_route(x)[0], destination=_route(x)[1]),
        ),
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
                _SAY["most_passengers"].format(city=cities[dest]),
                compare(
                    _SAY["passengers_things"].format(city=cities[dest]),
                    _SAY["passengers_criterion"],
                    r,
                    group,
                    _rid,
                    lambda x: _plural(len(x.passengers), _SAY["passenger"]),
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
        _SAY["most_recent"],
        compare(
            # the time too: several reservations are often booked on the same day
            _SAY["reservations"],
            _SAY["recent_criterion"],
            r,
            rs,
            _rid,
            lambda x: _SAY["booked_at"].format(day=formats.day(x.created_at), time=x.created_at[11:16]),
        ),
    )


def _most_expensive(cities: dict[str, str], rs: list[Any]) -> Selected | None:
    """The reservation with the highest total fare."""
    r = _unique(rs, _price)
    if r is None or len(rs) < 2:
        return None
    return (
        r,
        _SAY["most_expensive"],
        compare(_SAY["reservations"], _SAY["expensive_criterion"], r, rs, _rid, lambda x: formats.money(_price(x))),
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
                _SAY["earliest"].format(cabin=CABIN_WORDS[cabin]),
                compare(
                    _SAY["earliest_things"].format(cabin=CABIN_WORDS[cabin]),
                    _SAY["earliest_criterion"],
                    r,
                    group,
                    _rid,
                    lambda x: _SAY["first_flight"].format(day=formats.day(min(f.date for f in x.flights))),
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
            _SAY["by_id"].format(rid=r.reservation_id),
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
            unknown = ctx.words.choice(_SAY["unknown_id"]).format(r=phrase)
            return Located(r, phrase, full, len(rs), [], [unknown], [how])
    raise Skip("no description singles out an eligible reservation")


@dataclass
class Payment:
    method: Any
    phrase: str
    comparisons: list[Comparison] = field(default_factory=list)


def _method_name(m: Any) -> str:
    return _PAY["card_name"].format(brand=m.brand, last_four=m.last_four) if m.source == "credit_card" else str(m.id)


def describe_method(m: Any) -> str:
    if m.source == "credit_card":
        return _PAY["credit_card"].format(brand=m.brand, last_four=m.last_four)
    if m.source == "gift_card":
        return _PAY["gift_card"].format(id=m.id)
    return _PAY["certificate"].format(id=m.id)


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
                    _PAY["largest_gift_card"],
                    [
                        compare(
                            _PAY["gift_things"],
                            _PAY["gift_criterion"],
                            best,
                            gifts,
                            _method_name,
                            lambda m: _PAY["left"].format(amount=formats.money(m.amount)),
                        )
                    ],
                )
        credits = [m for m in methods if m.source == "credit_card"]
        if len(credits) == 1 and valid(credits[0]) and len(methods) >= 2:
            return Payment(
                credits[0],
                _PAY["only_credit_card"],
                [
                    compare(
                        _PAY["method_things"],
                        _PAY["credit_criterion"],
                        credits[0],
                        methods,
                        _method_name,
                        lambda m: str(m.source).replace("_", " "),
                    )
                ],
            )
    m = ctx.rng.choice(ok)
    return Payment(m, describe_method(m))
