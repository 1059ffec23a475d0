"""The airline policy rules the blueprints rely on, as small pure functions.

Each rule cites the policy text it encodes (tau2's airline ``policy.md``); the tools do not
check most of these (“The API does not check these for the agent”), so gold plans must.
"""

from __future__ import annotations

from typing import Any, Iterable

from writ_dagster.core.domains.state import peek

NOW = "2024-05-15T15:00:00"  # "The current time is 2024-05-15 15:00:00 EST."
MAX_PASSENGERS = 5
BAG_FEE = 50
INSURANCE_PER_PASSENGER = 30

# "Checked bag allowance": free bags per passenger by membership and cabin.
_FREE_BAGS = {
    "regular": {"basic_economy": 0, "economy": 1, "business": 2},
    "silver": {"basic_economy": 1, "economy": 2, "business": 3},
    "gold": {"basic_economy": 2, "economy": 3, "business": 4},
}
FLOWN_STATUSES = {"landed", "flying"}
INSURED_REASONS = ("health", "weather")


def free_bags_per_passenger(membership: str, cabin: str) -> int:
    """Free checked bags per passenger for the booking user's membership and the cabin."""
    return _FREE_BAGS[membership][cabin]


def nonfree_after_adding(membership: str, cabin: str, passengers: int, total: int, nonfree: int, added: int) -> int:
    """Non-free bag count after adding ``added`` bags: unused free allowance is used first."""
    allowance = free_bags_per_passenger(membership, cabin) * passengers
    free_left = max(0, allowance - total)
    return nonfree + max(0, added - free_left)


def booking_nonfree_bags(membership: str, cabin: str, passengers: int, bags: int) -> int:
    """Bags beyond the allowance when booking ("Each extra baggage is 50 dollars")."""
    return max(0, bags - free_bags_per_passenger(membership, cabin) * passengers)


def segment_status(db: Any, flight_number: str, date: str) -> str:
    """The flight's status on ``date`` (read without copying the flight out of a fork)."""
    return peek(db.flights, flight_number).dates[date].status


def is_flown(db: Any, reservation: Any) -> bool:
    """Whether any segment has taken off ("flying") or landed."""
    return any(segment_status(db, f.flight_number, f.date) in FLOWN_STATUSES for f in reservation.flights)


def has_cancelled_segment(db: Any, reservation: Any) -> bool:
    return any(segment_status(db, f.flight_number, f.date) == "cancelled" for f in reservation.flights)


def cancellation_reason(db: Any, reservation: Any, user_says: str) -> bool:
    """Whether the reservation may be cancelled for the reason the user gives.

    "If any portion of the flight has already been flown, the agent cannot help", otherwise
    allowed if booked within 24 h, cancelled by the airline, business, or insured and the
    reason is covered (health or weather).
    """
    if reservation.status == "cancelled" or is_flown(db, reservation):
        return False
    if reservation.created_at >= _minus_24h(NOW):
        return True
    if has_cancelled_segment(db, reservation):
        return True
    if reservation.cabin == "business":
        return True
    return reservation.insurance == "yes" and any(r in user_says.lower() for r in INSURED_REASONS)


def _minus_24h(ts: str) -> str:
    from datetime import datetime, timedelta

    return (datetime.fromisoformat(ts) - timedelta(hours=24)).isoformat()


def can_change_flights(db: Any, reservation: Any) -> bool:
    """ "Basic economy flights cannot be modified"; flown or cancelled ones neither."""
    return reservation.status != "cancelled" and reservation.cabin != "basic_economy" and not is_flown(db, reservation)


def can_change_cabin(db: Any, reservation: Any) -> bool:
    """ "Cabin cannot be changed if any flight in the reservation has already been flown."""
    return reservation.status != "cancelled" and not is_flown(db, reservation)


def can_add_bags(db: Any, reservation: Any) -> bool:
    """Bags can be added (never removed) to a live reservation not yet flown."""
    return reservation.status != "cancelled" and not is_flown(db, reservation)


def payment_for_change(method: Any, amount: float) -> bool:
    """A change is paid (or refunded) by one credit card or gift card; gift cards must cover it."""
    if method.source == "certificate":
        return False
    if method.source == "gift_card":
        return method.amount >= amount
    return True


def booking_payment_ok(methods: Iterable[Any], amounts: Iterable[float]) -> bool:
    """At most one certificate, one credit card and three gift cards; balances must cover."""
    methods = list(methods)
    counts = {"certificate": 0, "credit_card": 0, "gift_card": 0}
    for m, amount in zip(methods, amounts):
        counts[m.source] += 1
        if m.source in ("gift_card", "certificate") and m.amount < amount:
            return False
    return counts["certificate"] <= 1 and counts["credit_card"] <= 1 and counts["gift_card"] <= 3


def compensation_eligible(user: Any, reservation: Any) -> bool:
    """ "Only compensate if the user is a silver/gold member or has travel insurance or flies business."""
    return user.membership in ("silver", "gold") or reservation.insurance == "yes" or reservation.cabin == "business"


def cancelled_flight_certificate(reservation: Any) -> int:
    """ "$100 times the number of passengers" for a cancelled flight."""
    return 100 * len(reservation.passengers)


def has_delayed_segment(db: Any, reservation: Any) -> bool:
    """Whether any flight of the reservation is delayed on its date (it has not taken off)."""
    return any(segment_status(db, f.flight_number, f.date) == "delayed" for f in reservation.flights)


def delay_compensation_allowed(db: Any, user: Any, reservation: Any) -> bool:
    """Whether a complaint about a delayed flight in ``reservation`` may be compensated.

    "If the user complains about delayed flights in a reservation and wants to change or cancel
    the reservation, the agent can offer a certificate ... after confirming the facts and changing
    or cancelling the reservation", for a silver/gold member, an insured trip or a business one.
    The change or cancellation must itself be legal; callers check that with the rules above.
    """
    return (
        reservation.status != "cancelled"
        and has_delayed_segment(db, reservation)
        and compensation_eligible(user, reservation)
    )


def delayed_flight_certificate(reservation: Any) -> int:
    """ "$50 times the number of passengers" for a delayed flight."""
    return 50 * len(reservation.passengers)


def certificate_then_card(balance: float, total: float) -> tuple[float, float]:
    """(certificate part, credit card part) of a booking paid with one certificate and one card.

    "The remaining amount of a travel certificate is not refundable": the certificate pays as
    much as it can (its balance, or the whole total if that is less), the card the rest.
    """
    first = min(balance, total)
    return first, total - first
