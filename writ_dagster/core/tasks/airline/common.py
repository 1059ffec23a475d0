"""Small helpers the airline blueprint modules share: dates, amounts, flights and seats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from writ_dagster.core.domains.state import peek

# Dates a task may book or move flights to: after "now" (2024-05-15), within the DB's flight dates.
TRAVEL_DATES = [f"2024-05-{d:02d}" for d in range(16, 31)]


@dataclass
class Base:
    """What every airline blueprint knows: airport code -> city name."""

    cities: dict[str, str]


def flights_arg(r: Any) -> list[dict[str, str]]:
    """A reservation's flights as the write tools take them."""
    return [{"flight_number": f.flight_number, "date": f.date} for f in r.flights]


def money(x: float) -> str:
    """An amount as tau2's communicate check looks for it: "50", "12.50"."""
    return str(int(x)) if float(x).is_integer() else f"{x:.2f}"


def seats_ok(db: Any, flight_number: str, date: str, cabin: str, passengers: int) -> bool:
    """Whether the flight can be booked on ``date`` in ``cabin`` for ``passengers`` people."""
    inst = peek(db.flights, flight_number).dates.get(date)
    return inst is not None and inst.status == "available" and inst.available_seats[cabin] >= passengers
