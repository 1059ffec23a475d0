"""Moving one direct leg of a reservation to another date's flight on the same route.

Shared by the plain flight change and the change a delayed flight's complaint asks for: the
user names the new flight (low burden) or asks for the cheapest direct flight on one or two
dates (high burden), and any fare difference goes through one credit card or gift card.
"""

from __future__ import annotations

from typing import Any

from writ_dagster.core.language import formats
from writ_dagster.core.tasks.airline import phrases as ph
from writ_dagster.core.tasks.airline import policy
from writ_dagster.core.tasks.airline.common import TRAVEL_DATES, flights_arg, money, seats_ok
from writ_dagster.core.tasks.airline.locate import Located, choose_payment
from writ_dagster.core.tasks.blueprints import Amount, Call, ComposeContext, Decision, Skip, compare
from writ_dagster.core.tasks.instructions import Request, pick
from writ_dagster.core.tasks.models import Comparison

_SAY: dict[str, str] = ph.SAY["move"]


def movable_shape(r: Any) -> bool:
    """A one-way direct flight, or a round trip of one direct flight each way: the legs ``move_leg`` handles."""
    if r.flight_type == "one_way":
        return len(r.flights) == 1
    return len(r.flights) == 2 and r.flights[0].origin == r.flights[1].destination


def change_amount(diff: float, keep: str) -> Amount | None:
    """A change's fare difference as a user may set a limit on it: a cost to pay, or a refund to get."""
    if diff > 0:
        return Amount(diff, "cost", _SAY["cost"], keep)
    if diff < 0:
        return Amount(-diff, "refund", _SAY["refund"], keep)
    return None


def _other_dates(r: Any, leg_i: int) -> list[str]:
    """Travel dates leg ``leg_i`` may move to: not its own, and keeping a round trip's order."""
    leg = r.flights[leg_i]
    lo = r.flights[0].date if leg_i == 1 else "2024-05-16"
    hi = r.flights[1].date if (leg_i == 0 and len(r.flights) == 2) else "2024-05-30"
    if leg_i == 1:
        return [d for d in TRAVEL_DATES if lo < d < hi and d != leg.date]
    return [d for d in TRAVEL_DATES if lo <= d < hi and d != leg.date]


def _direct_fares(db: Any, r: Any, leg: Any, dates: list[str]) -> list[tuple[Any, str, str]]:
    """(fare, date, flight number) of every direct flight on the leg's route with seats, cheapest first;
    skipped when there is none or the cheapest is tied."""
    pax = len(r.passengers)
    options = []
    for d in dates:
        for fn, f in sorted(db.flights.items()):
            if f.origin == leg.origin and f.destination == leg.destination and seats_ok(db, fn, d, r.cabin, pax):
                options.append((f.dates[d].prices[r.cabin], d, fn))
    if not options:
        raise Skip("no direct flight with seats on those dates")
    options.sort()
    if len(options) > 1 and options[0][0] == options[1][0]:
        raise Skip("cheapest option is tied")
    return options


def _fare_comparison(options: list[tuple[Any, str, str]]) -> Comparison:
    return compare(
        _SAY["fare_things"],
        _SAY["fare_criterion"],
        options[0],
        options,
        lambda x: _SAY["fare_flight"].format(flight=x[2], day=formats.day(x[1])),
        lambda x: _SAY["fare"].format(fare=formats.money(x[0])),
    )


def _move_words(
    cities: dict[str, str], loc: Located, which: str, leg: Any, dates: list[str] | None, new_fn: str, new_date: str
) -> str:
    """The move as the user asks for it: the cheapest direct flight on ``dates`` (high burden), else the
    new flight by number."""
    if dates is not None:
        when = ph.SAY["or"].join(formats.day(d) for d in dates)
        return _SAY["compared"].format(
            which=which, r=loc.phrase, origin=cities[leg.origin], destination=cities[leg.destination], when=when
        )
    return _SAY["named"].format(which=which, r=loc.phrase, flight=new_fn, day=formats.day(new_date))


def move_leg(
    ctx: ComposeContext,
    cities: dict[str, str],
    loc: Located,
    leg_i: int,
    motives: tuple[str, ...],
    keep_motive: bool = False,
) -> Decision:
    """The decision to move leg ``leg_i`` of the located reservation; the user gives one of ``motives``
    (always, with ``keep_motive``: a motive the policy judges)."""
    r = loc.reservation
    leg = r.flights[leg_i]
    dates = _other_dates(r, leg_i)
    if not dates:
        raise Skip("no other date fits the trip")
    high = ctx.burden == "high"
    start = ctx.rng.randrange(len(dates))
    chosen = dates[start : start + (2 if high else 1)]
    options = _direct_fares(ctx.db, r, leg, chosen)
    price, new_date, new_fn = options[0]
    reads: list[Call] = loc.reads + [
        ("search_direct_flight", {"origin": leg.origin, "destination": leg.destination, "date": d}) for d in chosen
    ]
    ctx.require_evidence(reads)
    diff = (price - leg.price) * len(r.passengers)
    pay = choose_payment(ctx, lambda m: policy.payment_for_change(m, diff))
    flights = flights_arg(r)
    flights[leg_i] = {"flight_number": new_fn, "date": new_date}
    which = _SAY["outbound"] if leg_i == 0 else _SAY["return"]
    want = _move_words(cities, loc, which, leg, chosen if high else None, new_fn, new_date)
    w = ctx.words
    ask = diff != 0 and w.random() < 0.6
    return Decision(
        write=(
            "update_reservation_flights",
            {"reservation_id": r.reservation_id, "cabin": r.cabin, "flights": flights, "payment_id": pay.method.id},
        ),
        reads=reads,
        candidates=max(loc.candidates, len(options)),
        say=Request(
            want,
            w.choice(motives),
            [pick(w, ph.DIFF_PAYMENT, pay=pay.phrase), w.choice(ph.KEEP_OTHERS)],
            _SAY["ask"] if ask else "",
            keep_motive,
        ),
        unknown=loc.unknown,
        communicate=[money(abs(diff))] if ask else [],
        entities=[f"reservations:{r.reservation_id}", f"flights:{new_fn}"],
        targets=[f"reservations:{r.reservation_id}"],
        comparisons=loc.comparisons
        + ([_fare_comparison(options)] if high and len(options) > 1 else [])
        + pay.comparisons,
        amount=change_amount(diff, _SAY["keep"].format(which=which)),
    )
