"""Moving one direct leg of a reservation to another date's flight on the same route.

Shared by the plain flight change and the change a delayed flight's complaint asks for: the
user names the new flight (low burden) or asks for the cheapest direct flight on one or two
dates (high burden), and any fare difference goes through one credit card or gift card.
"""

from __future__ import annotations

from typing import Any

from writ_dagster.core.tasks.airline import phrases as ph
from writ_dagster.core.tasks.airline import policy
from writ_dagster.core.tasks.airline.common import TRAVEL_DATES, date_words, flights_arg, money, seats_ok
from writ_dagster.core.tasks.airline.locate import Located, choose_payment
from writ_dagster.core.tasks.blueprints import Amount, Call, ComposeContext, Decision, Skip, compare, spoken_money
from writ_dagster.core.tasks.instructions import Request, pick


def movable_shape(r: Any) -> bool:
    """A one-way direct flight, or a round trip of one direct flight each way: the legs ``move_leg`` handles."""
    if r.flight_type == "one_way":
        return len(r.flights) == 1
    return len(r.flights) == 2 and r.flights[0].origin == r.flights[1].destination


def change_amount(diff: float, keep: str) -> Amount | None:
    """A change's fare difference as a user may set a limit on it: a cost to pay, or a refund to get."""
    if diff > 0:
        return Amount(diff, "cost", "the fare difference", keep)
    if diff < 0:
        return Amount(-diff, "refund", "the refund for the fare difference", keep)
    return None


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
    db = ctx.db
    r = loc.reservation
    leg = r.flights[leg_i]
    lo = r.flights[0].date if leg_i == 1 else "2024-05-16"
    hi = r.flights[1].date if (leg_i == 0 and len(r.flights) == 2) else "2024-05-30"
    dates = (
        [d for d in TRAVEL_DATES if lo < d < hi and d != leg.date]
        if leg_i == 1
        else [d for d in TRAVEL_DATES if lo <= d < hi and d != leg.date]
    )
    if not dates:
        raise Skip("no other date fits the trip")
    pax = len(r.passengers)
    k = 2 if ctx.burden == "high" else 1
    start = ctx.rng.randrange(len(dates))
    chosen = dates[start : start + k]
    options = []
    for d in chosen:
        for fn, f in sorted(db.flights.items()):
            if f.origin == leg.origin and f.destination == leg.destination and seats_ok(db, fn, d, r.cabin, pax):
                options.append((f.dates[d].prices[r.cabin], d, fn))
    if not options:
        raise Skip("no direct flight with seats on those dates")
    options.sort()
    if len(options) > 1 and options[0][0] == options[1][0]:
        raise Skip("cheapest option is tied")
    price, new_date, new_fn = options[0]
    reads: list[Call] = loc.reads + [
        ("search_direct_flight", {"origin": leg.origin, "destination": leg.destination, "date": d}) for d in chosen
    ]
    ctx.require_evidence(reads)
    diff = (price - leg.price) * pax
    pay = choose_payment(ctx, lambda m: policy.payment_for_change(m, diff))
    flights = flights_arg(r)
    flights[leg_i] = {"flight_number": new_fn, "date": new_date}
    which = "outbound flight" if leg_i == 0 else "return flight"
    if ctx.burden == "high":
        when = " or ".join(date_words(d) for d in chosen)
        want = (
            f"move the {which} of {loc.phrase} ({cities[leg.origin]} to "
            f"{cities[leg.destination]}) to the cheapest direct flight on {when}, same cabin"
        )
    else:
        want = f"move the {which} of {loc.phrase} to flight {new_fn} on {date_words(new_date)}, same cabin"
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
            "how much the fare difference is" if ask else "",
            keep_motive,
        ),
        unknown=loc.unknown,
        communicate=[money(abs(diff))] if ask else [],
        entities=[f"reservations:{r.reservation_id}", f"flights:{new_fn}"],
        targets=[f"reservations:{r.reservation_id}"],
        comparisons=loc.comparisons
        + (
            [
                compare(
                    "direct flights with seats",
                    "the lowest fare",
                    options[0],
                    options,
                    lambda x: f"{x[2]} on {x[1]}",
                    lambda x: f"{spoken_money(x[0])} per passenger",
                )
            ]
            if ctx.burden == "high" and len(options) > 1
            else []
        )
        + pay.comparisons,
        amount=change_amount(diff, f"keep your {which}"),
    )
