"""Flight options a booking compares: what the searches return with seats, and the pick by a criterion.

An option is one way to fly one direction of a trip: a direct flight, or two flights with one
stop, as ``search_direct_flight`` / ``search_onestop_flight`` list them. The user asks for the
cheapest or the quickest; the pick is the option with the lowest fare per passenger, or the
shortest total travel time (first departure to last arrival) and, among equally long ones, the
earliest arrival: every direct flight of a route takes the same scheduled time in tau2's DB, so
travel time alone rarely decides. A tie the user's words do not settle makes the blueprint skip,
so every gold booking is the only right answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from writ_dagster.core.domains.state import peek
from writ_dagster.core.language import formats
from writ_dagster.core.tasks.airline.common import seats_ok
from writ_dagster.core.tasks.airline.phrases import SAY
from writ_dagster.core.tasks.blueprints import Call, Skip, compare
from writ_dagster.core.tasks.models import Comparison

Criterion = Literal["cheapest", "fastest"]
_SAY: dict[str, str] = SAY["trips"]


@dataclass
class Option:
    """One itinerary for one direction of a trip, as the searches show it."""

    price: int  # per passenger, all its flights
    origin: str
    flights: list[dict[str, str]]
    minutes: int  # total travel time, first departure to last arrival
    arrives: datetime  # scheduled arrival of the last flight (EST)

    def name(self) -> str:
        """How the agent names it: "HAT001 on May 20 and HAT002 on May 20"."""
        return SAY["and"].join(
            _SAY["flight"].format(flight=f["flight_number"], day=formats.day(f["date"])) for f in self.flights
        )

    def numbers(self) -> tuple[str, ...]:
        return tuple(f["flight_number"] for f in self.flights)


def schedule(db: Any, flights: list[dict[str, str]]) -> tuple[datetime, datetime]:
    """(first scheduled departure, last scheduled arrival) of an itinerary; "+1" is the next day.

    The DB gives every time in EST, so differences are durations without time-zone arithmetic.
    """
    first, last = peek(db.flights, flights[0]["flight_number"]), peek(db.flights, flights[-1]["flight_number"])
    leave = datetime.fromisoformat(f"{flights[0]['date']}T{first.scheduled_departure_time_est}")
    arrive_at = last.scheduled_arrival_time_est
    arrive = datetime.fromisoformat(f"{flights[-1]['date']}T{arrive_at[:8]}")
    if arrive_at.endswith("+1"):
        arrive += timedelta(days=1)
    return leave, arrive


def travel_minutes(db: Any, flights: list[dict[str, str]]) -> int:
    """Minutes from the first scheduled departure to the last scheduled arrival."""
    leave, arrive = schedule(db, flights)
    return int((arrive - leave).total_seconds() // 60)


def spoken_duration(minutes: int) -> str:
    """A travel time as an agent says it: "3 h 40 min", "5 h"."""
    hours, rest = divmod(minutes, 60)
    return _SAY["hours_minutes"].format(hours=hours, minutes=rest) if rest else _SAY["hours"].format(hours=hours)


def spoken_arrival(at: datetime) -> str:
    """An arrival as an agent says it: "landing May 20 at 18:30"."""
    return _SAY["landing"].format(day=formats.day(at.date().isoformat()), time=f"{at:%H:%M}")


def _option(db: Any, origin: str, flights: list[dict[str, str]], cabin: str) -> Option:
    price = sum(peek(db.flights, f["flight_number"]).dates[f["date"]].prices[cabin] for f in flights)
    leave, arrive = schedule(db, flights)
    return Option(price, origin, flights, int((arrive - leave).total_seconds() // 60), arrive)


def _onestops(db: Any, o: str, dest: str, d: str, cabin: str, pax: int) -> list[Option]:
    """One-stop options with seats, paired as ``search_onestop_flight`` pairs them (same rules)."""
    out = []
    for fn1, f1 in sorted(db.flights.items()):
        if f1.origin != o or not seats_ok(db, fn1, d, cabin, pax):
            continue
        d2 = f"2024-05-{int(d[-2:]) + 1}" if "+1" in f1.scheduled_arrival_time_est else d
        for fn2, f2 in sorted(db.flights.items()):
            if (
                f2.origin == f1.destination
                and f2.destination == dest
                and f2.scheduled_departure_time_est >= f1.scheduled_arrival_time_est
                and seats_ok(db, fn2, d2, cabin, pax)
            ):
                out.append(
                    _option(db, o, [{"flight_number": fn1, "date": d}, {"flight_number": fn2, "date": d2}], cabin)
                )
    return out


def search(
    db: Any, origins: list[str], dest: str, dates: list[str], cabin: str, pax: int, onestop: bool
) -> tuple[list[Option], list[Call]]:
    """The options with seats for ``pax`` in ``cabin``, and the searches that list them, in order."""
    options: list[Option] = []
    reads: list[Call] = []
    for o in origins:
        for d in dates:
            reads.append(("search_direct_flight", {"origin": o, "destination": dest, "date": d}))
            for fn, f in sorted(db.flights.items()):
                if f.origin == o and f.destination == dest and seats_ok(db, fn, d, cabin, pax):
                    options.append(_option(db, o, [{"flight_number": fn, "date": d}], cabin))
            if onestop:
                reads.append(("search_onestop_flight", {"origin": o, "destination": dest, "date": d}))
                options += _onestops(db, o, dest, d, cabin, pax)
    return options, reads


def _leaves(x: Option) -> str:
    return x.flights[0]["date"] + "T" + x.flights[0]["flight_number"]


def rank(options: list[Option]) -> list[Option]:
    """Options by fare, then origin and departure: the order the agent lists them in."""
    return sorted(options, key=lambda x: (x.price, x.origin, _leaves(x)))


def pick(
    options: list[Option], criterion: Criterion, things: str = SAY["book"]["outbound_things"]
) -> tuple[Option, Comparison]:
    """The option the user's criterion names, and the comparison the agent states (a lone option too:
    "the only one that fits" is what the agent has to say about it).

    Cheapest: lowest fare per passenger; a tie skips. Fastest: shortest total travel time, then
    earliest arrival (the user says so); two options landing at the same time skip.
    """
    if not options:
        raise Skip("no flight with seats")
    if criterion == "cheapest":
        ranked = rank(options)
        if len(ranked) > 1 and ranked[0].price == ranked[1].price:
            raise Skip("cheapest option is tied")
        best = ranked[0]
        how = _SAY["cheapest_criterion"]
    else:
        ranked = sorted(options, key=lambda x: (x.minutes, x.arrives, _leaves(x)))
        best = ranked[0]
        if len(ranked) > 1 and (ranked[1].minutes, ranked[1].arrives) == (best.minutes, best.arrives):
            raise Skip("fastest option is tied")
        quick = len(ranked) > 1 and ranked[1].minutes == best.minutes
        how = _SAY["fastest_criterion"] + (_SAY["earliest_arrival"] if quick else "")
    value = (
        (lambda x: _SAY["fare"].format(fare=formats.money(x.price)))
        if criterion == "cheapest"
        else (
            lambda x: _SAY["time_and_landing"].format(
                duration=spoken_duration(x.minutes), landing=spoken_arrival(x.arrives)
            )
        )
    )
    return best, compare(things, how, best, ranked, Option.name, value)
