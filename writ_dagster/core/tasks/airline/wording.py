"""How the scripted agent words airline writes: the details before confirmation, what was done,
what to ask for, and a sentence per amount. Tools not named here get the generic wording."""

from __future__ import annotations

import json
import random
from typing import Any

from writ_dagster.core.domains.entities import describe_payment
from writ_dagster.core.domains.wording import Wording, join
from writ_dagster.core.language import formats
from writ_dagster.core.language.pools import pick, pools

# The pools are data: the "wording" section of this folder's phrases.yaml.
_W = pools(__name__.rpartition(".")[0])["wording"]


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
            return pick(rng, _W["done_summary"]["booked"], new_id=new_id)
        summaries = _W["done_summary"]["done"]
        if name in summaries:
            return pick(rng, summaries[name], rid=rid)
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
            return pick(rng, _W["figure_sentence"]["book_reservation"], v=v)
        if name == "update_reservation_flights":
            if sign == "-":
                return pick(rng, _W["figure_sentence"]["update_reservation_flights_refund"], v=v)
            if sign == "+":
                return pick(rng, _W["figure_sentence"]["update_reservation_flights_charge"], v=v)
            return f"The fare difference is {v}."
        if name == "cancel_reservation":
            return pick(rng, _W["figure_sentence"]["cancel_reservation"], v=v)
        if name == "update_reservation_baggages":
            return pick(rng, _W["figure_sentence"]["update_reservation_baggages"], v=v)
        if name == "send_certificate":
            return pick(rng, _W["figure_sentence"]["send_certificate"], v=v)
        return super().figure_sentence(name, sign, value, rng)


WORDING = AirlineWording
