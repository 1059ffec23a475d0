"""Booking a trip whose flights are fixed by comparing search results.

Variants, drawn per booking: one way or round trip (the return chosen by the same criterion as
the outbound, back to the airport the trip leaves from); at high burden the cheapest or the
quickest option over the user's dates and origin airports; and, for a user holding a travel
certificate too small to pay for the trip alone, the certificate's whole balance first and the
rest on one credit card.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from writ_dagster.core.language import formats
from writ_dagster.core.tasks.airline import phrases as ph
from writ_dagster.core.tasks.airline import policy, trips
from writ_dagster.core.tasks.airline.common import TRAVEL_DATES, Base, money
from writ_dagster.core.tasks.airline.locate import CABIN_WORDS, Payment, choose_payment
from writ_dagster.core.tasks.blueprints import Call, ComposeContext, Decision, Skip
from writ_dagster.core.tasks.instructions import Request, pick
from writ_dagster.core.tasks.models import Comparison

_SAY: dict[str, Any] = ph.SAY["book"]

BOOKING_IDS = ("HATHAT", "HATHAU", "HATHAV")  # the ids tau2's book_reservation hands out, in order
NYC = ("JFK", "EWR", "LGA")
# Shares among bookings. A round trip doubles the searches; "quickest" is asked only where the user
# compares (high burden); a split needs a certificate smaller than the total, so it applies to fewer.
ROUND_TRIP_SHARE = 0.4
FASTEST_SHARE = 0.5
SPLIT_SHARE = 0.6


def _whole(x: float) -> float | int:
    """An amount as an int when it is whole (certificate balances are stored as floats)."""
    return int(x) if float(x).is_integer() else round(x, 2)


@dataclass
class _Paid:
    """How a booking is paid: (payment method, amount) pairs and the user's sentence for it."""

    parts: list[tuple[Payment, float | int]]
    split: bool

    def sentence(self, w: Any) -> str:
        if self.split:
            (cert, _), (card, _) = self.parts
            return pick(w, ph.SPLIT_PAYMENT, cert=cert.phrase, card=card.phrase)
        return pick(w, ph.TOTAL_PAYMENT, pay=self.parts[0][0].phrase)

    def comparisons(self) -> list[Comparison]:
        return [c for p, _ in self.parts for c in p.comparisons]


def _pay(ctx: ComposeContext, total: int, split: bool) -> _Paid:
    """One method for the total, or (``split``) one certificate's balance and the rest on one card.

    The policy allows at most one certificate and one credit card per reservation; a certificate
    that covers the total alone is not split (its remainder would be lost, and the card pays nothing).
    """
    if split:
        try:
            cert = choose_payment(ctx, lambda m: m.source == "certificate" and m.amount < total)
            card = choose_payment(ctx, lambda m: m.source == "credit_card")
        except Skip:
            pass  # no such pair among the user's methods: one method pays it all
        else:
            first, rest = policy.certificate_then_card(cert.method.amount, total)
            assert policy.booking_payment_ok([cert.method, card.method], [first, rest])
            return _Paid([(cert, _whole(first)), (card, _whole(rest))], True)
    pay = choose_payment(ctx, lambda m: policy.booking_payment_ok([m], [total]))
    return _Paid([(pay, total)], False)


def _choose(
    ctx: ComposeContext, options: list[trips.Option], criterion: trips.Criterion, things: str
) -> tuple[trips.Option, Comparison | None]:
    """The option the user asks for: by the criterion at high burden, a named direct flight at low."""
    if ctx.burden == "high":
        return trips.pick(options, criterion, things)
    direct = trips.rank([x for x in options if len(x.flights) == 1])
    if not direct:
        raise Skip("no direct flight with seats")
    return ctx.rng.choice(direct), None


@dataclass
class _Trip:
    """What the user wants booked, drawn before any search."""

    dest: str
    origins: list[str]
    dates: list[str]
    onestop: bool
    cabin: str
    companions: list[Any]
    round_trip: bool
    criterion: trips.Criterion
    split: bool
    gap: int  # days from the last outbound date to the return

    @property
    def pax(self) -> int:
        return 1 + len(self.companions)


def _draw_trip(ctx: ComposeContext, routes: dict[str, list[str]], saved: list[Any]) -> _Trip:
    """The trip's draws, in a fixed order (the task's random stream depends on it)."""
    rng = ctx.rng
    high = ctx.burden == "high"
    dest = rng.choice(sorted(routes))
    origins = [o for o in routes[dest]]
    nyc = [o for o in NYC if o in origins]
    if high and len(nyc) >= 2:
        origins = sorted(rng.sample(nyc, 2))
    else:
        origins = [rng.choice(sorted(origins))]
    start = rng.randrange(len(TRAVEL_DATES) - 3)
    dates = TRAVEL_DATES[start : start + (rng.choice([2, 3]) if high else 1)]
    onestop = high and rng.random() < 0.5
    cabin = rng.choice(list(CABIN_WORDS))
    companions = rng.sample(saved, rng.randint(0, min(len(saved), 2)))
    # Variant draws come together, always, so each variant's share does not depend on the others.
    round_trip = rng.random() < ROUND_TRIP_SHARE
    criterion: trips.Criterion = "fastest" if rng.random() < FASTEST_SHARE and high else "cheapest"
    split = rng.random() < SPLIT_SHARE
    gap = rng.randint(2, 6)
    return _Trip(dest, origins, dates, onestop, cabin, companions, round_trip, criterion, split, gap)


@dataclass
class _Legs:
    """The flights chosen for a trip and what finding them took."""

    legs: list[trips.Option]
    comparisons: list[Comparison]
    candidates: int
    reads: list[Call]
    back_date: str = ""


def _find_legs(ctx: ComposeContext, trip: _Trip) -> _Legs:
    """Search the outbound flights (and the return, for a round trip) and choose among them."""
    options, reads = trips.search(ctx.db, trip.origins, trip.dest, trip.dates, trip.cabin, trip.pax, trip.onestop)
    out, out_cmp = _choose(ctx, options, trip.criterion, _SAY["outbound_things"])
    found = _Legs([out], [out_cmp] if out_cmp else [], len(options), reads)
    if not trip.round_trip:
        return found
    back_i = TRAVEL_DATES.index(trip.dates[-1]) + trip.gap
    if back_i >= len(TRAVEL_DATES):
        raise Skip("no date left for the return")
    found.back_date = TRAVEL_DATES[back_i]
    back_options, back_reads = trips.search(
        ctx.db, [trip.dest], out.origin, [found.back_date], trip.cabin, trip.pax, trip.onestop
    )
    found.reads += back_reads
    back, back_cmp = _choose(ctx, back_options, trip.criterion, _SAY["return_things"])
    found.legs.append(back)
    found.comparisons += [back_cmp] if back_cmp else []
    found.candidates += len(back_options)
    return found


def _who(w: Any, companions: list[Any]) -> str:
    """Whom the booking is for, in the user's words."""
    if not companions:
        return w.choice(_SAY["just_me"])
    return _SAY["with_companions"].format(
        companions=ph.SAY["and"].join(
            _SAY["companion"].format(name=f"{c.first_name} {c.last_name}", dob=c.dob) for c in companions
        )
    )


def _bags_said(w: Any, bags: int) -> str:
    """How many bags the user checks, in their words."""
    if not bags:
        return w.choice(ph.NO_BAGS)
    return pick(w, ph.BAGS, n=str(bags), bags=ph.SAY["bags"]["bag" if bags == 1 else "bags"])


@dataclass
class BookFlight(Base):
    """Book a one-way or round trip whose flights are fixed by comparing search results."""

    name: str = "book"
    tool: str = "book_reservation"
    routes: dict[str, list[str]] = field(default_factory=dict)

    def propose(self, ctx: ComposeContext) -> Decision:
        user = ctx.db.users[ctx.user_id]
        rid = next((b for b in BOOKING_IDS if b not in ctx.db.reservations), None)
        if rid is None:
            raise Skip("tau2 hands out at most three new reservation ids")
        high = ctx.burden == "high"
        trip = _draw_trip(ctx, self.routes, list(user.saved_passengers))
        found = _find_legs(ctx, trip)
        ctx.require_evidence(found.reads)
        bags = ctx.rng.randint(0, 3)
        nonfree = policy.booking_nonfree_bags(user.membership, trip.cabin, trip.pax, bags)
        insurance = ctx.rng.choice(["yes", "no"])
        price = sum(leg.price for leg in found.legs)
        total = (
            price * trip.pax
            + policy.BAG_FEE * nonfree
            + (policy.INSURANCE_PER_PASSENGER * trip.pax if insurance == "yes" else 0)
        )
        paid = _pay(ctx, total, trip.split)
        flights = [f for leg in found.legs for f in leg.flights]
        passengers = [{"first_name": user.name.first_name, "last_name": user.name.last_name, "dob": user.dob}]
        passengers += [c.model_dump() for c in trip.companions]
        w = ctx.words
        want, criteria = self._want(w, high, trip, found, _who(w, trip.companions))
        details = [
            *criteria,
            _bags_said(w, bags),
            w.choice(ph.INSURANCE[insurance]),
            paid.sentence(w),
        ]
        # A split booking's total is no argument of the write, so the agent could not tie it to the booking.
        ask = w.random() < 0.7 and not paid.split
        return Decision(
            write=(
                "book_reservation",
                {
                    "user_id": ctx.user_id,
                    "origin": found.legs[0].origin,
                    "destination": trip.dest,
                    "flight_type": "round_trip" if trip.round_trip else "one_way",
                    "cabin": trip.cabin,
                    "flights": flights,
                    "passengers": passengers,
                    "payment_methods": [{"payment_id": p.method.id, "amount": a} for p, a in paid.parts],
                    "total_baggages": bags,
                    "nonfree_baggages": nonfree,
                    "insurance": insurance,
                },
            ),
            reads=found.reads,
            candidates=found.candidates,
            say=Request(want, w.choice(ph.BOOK_MOTIVES), details, _SAY["ask"] if ask else ""),
            unknown=[w.choice(ph.UNKNOWN_FLIGHTS)] if high else [],
            communicate=[money(total)] if ask else [],
            entities=[f"flights:{f['flight_number']}" for f in flights]
            + [f"payment_methods:{p.method.id}" for p, _ in paid.parts],
            targets=[f"reservations:{rid}"],
            comparisons=found.comparisons + paid.comparisons(),
        )

    def _want(self, w: Any, high: bool, trip: _Trip, found: _Legs, who: str) -> tuple[str, list[str]]:
        """The booking request in the user's words, and the sentences that pin its criterion down."""
        legs, dest, cabin, origins = found.legs, trip.dest, trip.cabin, trip.origins
        kind_of_trip = ph.SAY["trip_kinds"]["round_trip" if len(legs) == 2 else "one_way"]
        if not high:
            f0 = legs[0].flights[0]
            want = _SAY["named"].format(
                trip=kind_of_trip,
                origin=self.cities[legs[0].origin],
                destination=self.cities[dest],
                who=who,
                cabin=CABIN_WORDS[cabin],
                flight=f0["flight_number"],
                day=formats.day(f0["date"]),
            )
            if len(legs) == 2:
                b0 = legs[1].flights[0]
                want += _SAY["named_back"].format(flight=b0["flight_number"], day=formats.day(b0["date"]))
            return want, []
        best = _SAY["cheapest"] if trip.criterion == "cheapest" else w.choice(ph.QUICKEST)
        where = ph.SAY["or"].join(_SAY["origin"].format(city=self.cities[o], code=o) for o in origins)
        when = ph.SAY["or"].join(formats.day(d) for d in trip.dates)
        kind = _SAY["one_stop"] if trip.onestop else _SAY["direct"]
        want = _SAY["compared"].format(
            trip=kind_of_trip,
            destination=self.cities[dest],
            who=who,
            cabin=CABIN_WORDS[cabin],
            best=best,
            kind=kind,
            where=where,
            when=when,
        )
        if len(legs) == 2:
            same = _SAY["same_airport"] if len(origins) > 1 else self.cities[origins[0]]
            want += _SAY["compared_back"].format(best=best, back_to=same, day=formats.day(found.back_date))
        return want, [pick(w, ph.TRAVEL_TIME, best=best)] if trip.criterion == "fastest" else []
