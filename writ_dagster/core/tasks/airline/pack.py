"""What the core asks of the airline domain (see :mod:`writ_dagster.core.domains.pack`)."""

from __future__ import annotations

from typing import Any

from writ_dagster.core.domains.pack import PART_KINDS, Call, DomainPack, TakeBack


class AirlinePack(DomainPack):
    """The airline domain: reservations, travel certificates, users identified by their user id."""

    part_kinds = frozenset(PART_KINDS)
    target_keys = ("reservation_id",)
    record_words = {"reservations": "reservation"}
    owned_tables = {"user_id": "users", "reservation_id": "reservations"}
    named_in_words = frozenset({"user_id", "payment_id"})
    id_pattern = r"\b[A-Z0-9]{6}\b|\b[a-z]+_[a-z]+_\d+\b"  # a reservation "VD4VDF", a user "mia_li_3668"
    # A change of mind: cancel, bags, cabin, a flight or a passenger, taken back for another of them.
    take_back = {
        "cancel_reservation": TakeBack("cancel {x}", "the cancellation"),
        "add_baggage": TakeBack("add the bags to {x}", "the extra bags"),
        "change_cabin": TakeBack("change the cabin of {x}", "the cabin change"),
        "change_flight": TakeBack("move the flight of {x}", "the flight change"),
        "update_passenger": TakeBack("change the passengers of {x}", "the passenger change"),
    }
    final_tools = frozenset({"cancel_reservation"})
    # Users give their user id: the pack's default identification.

    def payment_words(self, method: Any | None, payment_id: str) -> str:
        return payment_words(method, payment_id)

    def lookup_words(self, name: str, arguments: dict[str, Any]) -> str:
        return f"a profile with the user id {arguments.get('user_id', '')}"

    def stray_write(self, db: Any, user_id: str | None) -> Call | None:
        """A travel certificate sent to the task's user (or the DB's first)."""
        users = getattr(db, "users", {})
        first = min(users) if users else None
        return "send_certificate", {"user_id": user_id or first, "amount": 50}


def payment_words(method: Any | None, payment_id: str) -> str:
    """An airline payment method in words: its source is the record's, or the id's prefix ("gift_card_0123")."""
    source = getattr(method, "source", None) or payment_id.rsplit("_", 1)[0]
    if source == "credit_card":
        brand = getattr(method, "brand", "") or "credit"
        last = getattr(method, "last_four", "")
        return f"{brand} credit card ending in {last}" if last else f"{brand} credit card"
    if source == "gift_card":
        return f"gift card {payment_id}"
    if source == "certificate":
        return f"travel certificate {payment_id}"
    return payment_id


PACK = AirlinePack()
