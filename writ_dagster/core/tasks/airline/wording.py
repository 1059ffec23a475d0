"""How the scripted agent words airline writes: the details before confirmation, what was done,
what to ask for, and a sentence per amount. Tools not named here get the generic wording."""

from __future__ import annotations

import json
import random
from typing import Any

from writ_dagster.core.domains.entities import describe_payment
from writ_dagster.core.domains.wording import Wording, join
from writ_dagster.core.language import formats
from writ_dagster.core.language.pools import Slots, pick, pools

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
    write_templates = _W["describe_write"]  # the description of a write, per tool

    def _reservation(self, rid: str) -> Any:
        return getattr(self.domain.base.db, "reservations", {}).get(rid)

    def details(self, user_id: str, name: str, args: dict[str, Any]) -> Slots:
        """The slots of a write's description: its arguments as said, and the words worked out from them
        (those that take work, only when the template names them)."""
        words = _W["details"]
        bags = args.get("total_baggages", 0 if name == "book_reservation" else None)
        slots = Slots(
            reservation_id=args.get("reservation_id"),
            origin=args.get("origin"),
            destination=args.get("destination"),
            cabin=_cabin(args.get("cabin", "")),
            flights=lambda: _flights(args.get("flights", [])),
            passengers=lambda: _passengers(args.get("passengers", [])),
            bags=bags,
            bags_word=words["bag" if bags == 1 else "bags"],
            paid_bags=args.get("nonfree_baggages", 0 if name == "book_reservation" else None),
            amount=formats.money(args.get("amount", 0)),
            pay=lambda: "your " + describe_payment(self.domain, user_id, args.get("payment_id", "")),
        )
        if name == "book_reservation":
            slots["trip"] = words["one_way" if args.get("flight_type") == "one_way" else "round_trip"]
            slots["insurance"] = words["insured" if args.get("insurance") == "yes" else "uninsured"]
            slots["payments"] = join(
                [
                    words["payment"].format(
                        method=describe_payment(self.domain, user_id, p.get("payment_id", "")),
                        amount=formats.money(p.get("amount", 0)),
                    )
                    for p in args.get("payment_methods", [])
                ]
            )
        if name == "cancel_reservation":
            res = self._reservation(args.get("reservation_id", ""))
            slots["trip"] = (
                words["cancelled_trip"].format(
                    origin=res.origin, destination=res.destination, kind=str(res.flight_type).replace("_", " ")
                )
                if res
                else ""
            )
        return slots

    def done_summary(self, name: str, args: dict[str, Any], output: str, rng: random.Random | None = None) -> str:
        """What the agent says once a write has gone through."""
        rid = args.get("reservation_id")
        if name == "book_reservation":
            try:
                new_id = json.loads(output).get("reservation_id")
            except (json.JSONDecodeError, AttributeError):
                new_id = None
            if not new_id:
                return pick(None, _W["done_summary"]["booked_no_id"])
            return pick(rng, _W["done_summary"]["booked"], new_id=new_id)
        summaries = _W["done_summary"]["done"]
        if name in summaries:
            return pick(rng, summaries[name], rid=rid)
        return super().done_summary(name, args, output, rng)

    def subject(self, name: str, args: dict[str, Any]) -> str:
        """A short name for what a write is about ("reservation X", "the new booking")."""
        if args.get("reservation_id"):
            return pick(None, _W["subject"]["record"], reservation_id=args["reservation_id"])
        if name == "book_reservation":
            return pick(None, _W["subject"]["book_reservation"])
        return super().subject(name, args)

    def details_wanted(self, name: str, args: dict[str, Any]) -> list[str]:
        """Bags, insurance and passengers where the write has them, then the payment method."""
        wants = []
        if "total_baggages" in args and name == "book_reservation":
            wants.append(_W["details_wanted"]["bags"])
        if "insurance" in args:
            wants.append(_W["details_wanted"]["insurance"])
        if "passengers" in args and name == "update_reservation_passengers":
            wants.append(_W["details_wanted"]["birth"])
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
