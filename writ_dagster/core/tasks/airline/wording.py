"""How the scripted agent words airline writes: the details before confirmation, what was done,
what to ask for, and a sentence per amount. Tools not named here get the generic wording."""

from __future__ import annotations

import json
import random
from typing import Any

from writ_dagster.core.domains.entities import describe_payment
from writ_dagster.core.domains.wording import Wording, choose, join
from writ_dagster.core.language import formats


def _flights(flights: list[dict[str, Any]]) -> str:
    return join([f"flight {f.get('flight_number')} on {formats.day(f.get('date', ''))}" for f in flights])


def _passengers(passengers: list[dict[str, Any]]) -> str:
    return join(
        [
            f"{p.get('first_name')} {p.get('last_name')} (born {formats.day(p.get('dob', ''), year=True)})"
            for p in passengers
        ]
    )


def _cabin(value: str) -> str:
    return str(value).replace("_", " ")


class AirlineWording(Wording):
    """Airline wording per write tool."""

    things = "reservations"

    def _reservation(self, rid: str) -> Any:
        return getattr(self.domain.base.db, "reservations", {}).get(rid)

    def describe_write(self, user_id: str, name: str, args: dict[str, Any]) -> str:
        """The details of a write, as the agent lists them before asking for confirmation."""
        domain = self.domain
        pay = lambda key: "your " + describe_payment(domain, user_id, args.get(key, ""))  # noqa: E731
        if name == "book_reservation":
            trip = "one-way trip" if args.get("flight_type") == "one_way" else "round trip"
            payments = join(
                [
                    f"{describe_payment(domain, user_id, p.get('payment_id', ''))} ({formats.money(p.get('amount', 0))})"
                    for p in args.get("payment_methods", [])
                ]
            )
            bags = args.get("total_baggages", 0)
            insurance = "with travel insurance" if args.get("insurance") == "yes" else "without travel insurance"
            return (
                f"book a {trip} from {args.get('origin')} to {args.get('destination')} in "
                f"{_cabin(args.get('cabin', ''))} on {_flights(args.get('flights', []))}, for "
                f"{_passengers(args.get('passengers', []))}, with {bags} checked bag{'s' if bags != 1 else ''} "
                f"({args.get('nonfree_baggages', 0)} of them paid), {insurance}, paid with {payments}"
            )
        if name == "cancel_reservation":
            res = self._reservation(args.get("reservation_id", ""))
            trip = f" ({res.origin} to {res.destination}, {str(res.flight_type).replace('_', ' ')})" if res else ""
            return f"cancel reservation {args.get('reservation_id')}{trip}, all flights and passengers included"
        if name == "update_reservation_baggages":
            total = args.get("total_baggages")
            return (
                f"update reservation {args.get('reservation_id')} to {total} checked bag{'s' if total != 1 else ''} "
                f"in total ({args.get('nonfree_baggages')} of them paid), with any fee charged to {pay('payment_id')}"
            )
        if name == "update_reservation_flights":
            return (
                f"change reservation {args.get('reservation_id')} to {_cabin(args.get('cabin', ''))} on "
                f"{_flights(args.get('flights', []))}, with any fare difference charged or refunded to "
                f"{pay('payment_id')}"
            )
        if name == "update_reservation_passengers":
            return (
                f"update the passengers on reservation {args.get('reservation_id')} to "
                f"{_passengers(args.get('passengers', []))}"
            )
        if name == "send_certificate":
            return f"issue a travel certificate of {formats.money(args.get('amount', 0))} to your account"
        return super().describe_write(user_id, name, args)

    def done_summary(self, name: str, args: dict[str, Any], output: str, rng: random.Random | None = None) -> str:
        """What the agent says once a write has gone through."""
        rid = args.get("reservation_id")
        if name == "book_reservation":
            try:
                new_id = json.loads(output).get("reservation_id")
            except (json.JSONDecodeError, AttributeError):
                new_id = None
            if not new_id:
                return "Your new reservation is booked."
            return choose(
                rng,
                [
                    f"Your new reservation {new_id} is booked.",
                    f"You're booked: reservation {new_id}.",
                    f"The booking went through; your reservation id is {new_id}.",
                    f"Done! Your new reservation is {new_id}.",
                ],
            )
        summaries = {
            "cancel_reservation": [
                f"Reservation {rid} has been cancelled.",
                f"I've cancelled reservation {rid}.",
                f"Reservation {rid} is now cancelled.",
                f"The cancellation of {rid} went through.",
            ],
            "update_reservation_baggages": [
                f"The baggage on reservation {rid} has been updated.",
                f"I've updated the bags on reservation {rid}.",
                f"Reservation {rid} now has the new baggage allowance.",
                f"The bags have been added to reservation {rid}.",
            ],
            "update_reservation_flights": [
                f"Reservation {rid} has been updated.",
                f"I've updated reservation {rid}.",
                f"The change to reservation {rid} went through.",
                f"Reservation {rid} now reflects the change.",
            ],
            "update_reservation_passengers": [
                f"The passenger details on reservation {rid} have been updated.",
                f"I've updated the passengers on reservation {rid}.",
                f"Reservation {rid} now has the new passenger details.",
            ],
            "send_certificate": [
                "The travel certificate has been issued to your account.",
                "I've added the travel certificate to your account.",
                "The certificate is now in your account.",
            ],
        }
        if name in summaries:
            return choose(rng, summaries[name])
        return super().done_summary(name, args, output, rng)

    def subject(self, name: str, args: dict[str, Any]) -> str:
        """A short name for what a write is about ("reservation X", "the new booking")."""
        if args.get("reservation_id"):
            return f"reservation {args['reservation_id']}"
        if name == "book_reservation":
            return "the new booking"
        return super().subject(name, args)

    def details_wanted(self, name: str, args: dict[str, Any]) -> list[str]:
        """Bags, insurance and passengers where the write has them, then the payment method."""
        wants = []
        if "total_baggages" in args and name == "book_reservation":
            wants.append("how many checked bags you will have")
        if "insurance" in args:
            wants.append("whether you would like travel insurance")
        if "passengers" in args and name == "update_reservation_passengers":
            wants.append("the new passenger's date of birth")
        return wants + super().details_wanted(name, args)

    def figure_sentence(self, name: str, sign: str, value: str, rng: random.Random | None = None) -> str:
        """A sentence stating an amount of an airline write."""
        v = value
        if name == "book_reservation":
            return choose(
                rng,
                [
                    f"The total price is {v}.",
                    f"The total comes to {v}.",
                    f"In total that is {v}.",
                    f"The booking costs {v} altogether.",
                ],
            )
        if name == "update_reservation_flights":
            if sign == "-":
                return choose(
                    rng,
                    [
                        f"You will be refunded {v} for the fare difference.",
                        f"The fare difference of {v} will be refunded to you.",
                        f"You'll get {v} back for the fare difference.",
                    ],
                )
            if sign == "+":
                return choose(
                    rng,
                    [
                        f"The fare difference of {v} will be charged.",
                        f"There is a fare difference of {v} to pay.",
                        f"You'll be charged {v} for the fare difference.",
                    ],
                )
            return f"The fare difference is {v}."
        if name == "cancel_reservation":
            return choose(
                rng,
                [
                    f"You will receive a refund of {v}.",
                    f"The refund will be {v}.",
                    f"You'll get {v} back.",
                    f"{v} will be refunded to you.",
                ],
            )
        if name == "update_reservation_baggages":
            return choose(
                rng,
                [f"The fee for the extra bags is {v}.", f"The extra bags cost {v}.", f"There is a baggage fee of {v}."],
            )
        if name == "send_certificate":
            return choose(rng, [f"The certificate will be worth {v}.", f"The certificate is for {v}."])
        return super().figure_sentence(name, sign, value, rng)


WORDING = AirlineWording
