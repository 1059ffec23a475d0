"""How the scripted oracle agent puts write actions and amounts into words.

One function per job: the details of a write before confirmation, what was done after it,
what to ask for when the user has not given a write's details, and a sentence per amount
to communicate. Unknown tools fall back to listing the arguments, so a new domain works
(less naturally) without changes here.
"""

from __future__ import annotations

import json
from typing import Any

from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.users.entities import describe_item, describe_payment, item_info
from writ_dagster.core.users.outline import Figure, WriteStep


def _join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _flights(flights: list[dict[str, Any]]) -> str:
    return _join([f"flight {f.get('flight_number')} on {f.get('date')}" for f in flights])


def _passengers(passengers: list[dict[str, Any]]) -> str:
    return _join([f"{p.get('first_name')} {p.get('last_name')} (born {p.get('dob')})" for p in passengers])


def _address(args: dict[str, Any]) -> str:
    parts = [args.get("address1"), args.get("address2"), args.get("city"),
             f"{args.get('state', '')} {args.get('zip', '')}".strip(), args.get("country")]
    return ", ".join(p for p in parts if p)


def _cabin(value: str) -> str:
    return str(value).replace("_", " ")


def _reservation(domain: str, rid: str) -> Any:
    return getattr(get_domain(domain).base.db, "reservations", {}).get(rid)


def describe_write(domain: str, user_id: str, name: str, args: dict[str, Any]) -> str:
    """The details of a write, as the agent lists them before asking for confirmation."""
    pay = lambda key: "your " + describe_payment(domain, user_id, args.get(key, ""))  # noqa: E731
    if name == "book_reservation":
        trip = "one-way" if args.get("flight_type") == "one_way" else "round-trip"
        payments = _join([f"{describe_payment(domain, user_id, p.get('payment_id', ''))} (${p.get('amount')})"
                          for p in args.get("payment_methods", [])])
        bags = args.get("total_baggages", 0)
        insurance = "with travel insurance" if args.get("insurance") == "yes" else "without travel insurance"
        return (f"book a {trip} trip from {args.get('origin')} to {args.get('destination')} in "
                f"{_cabin(args.get('cabin', ''))} on {_flights(args.get('flights', []))}, for "
                f"{_passengers(args.get('passengers', []))}, with {bags} checked bag{'s' if bags != 1 else ''} "
                f"({args.get('nonfree_baggages', 0)} of them paid), {insurance}, paid with {payments}")
    if name == "cancel_reservation":
        res = _reservation(domain, args.get("reservation_id", ""))
        trip = f" ({res.origin} to {res.destination}, {str(res.flight_type).replace('_', ' ')})" if res else ""
        return f"cancel reservation {args.get('reservation_id')}{trip}, all flights and passengers included"
    if name == "update_reservation_baggages":
        total = args.get("total_baggages")
        return (f"update reservation {args.get('reservation_id')} to {total} checked bag{'s' if total != 1 else ''} "
                f"in total ({args.get('nonfree_baggages')} of them paid), with any fee charged to {pay('payment_id')}")
    if name == "update_reservation_flights":
        return (f"change reservation {args.get('reservation_id')} to {_cabin(args.get('cabin', ''))} on "
                f"{_flights(args.get('flights', []))}, with any fare difference charged or refunded to "
                f"{pay('payment_id')}")
    if name == "update_reservation_passengers":
        return (f"update the passengers on reservation {args.get('reservation_id')} to "
                f"{_passengers(args.get('passengers', []))}")
    if name == "send_certificate":
        return f"issue a travel certificate of ${args.get('amount')} to your account"
    if name == "cancel_pending_order":
        return f"cancel order {args.get('order_id')} (reason: {args.get('reason')})"
    if name == "modify_pending_order_address":
        return f"change the shipping address of order {args.get('order_id')} to {_address(args)}"
    if name == "modify_user_address":
        return f"update your default address to {_address(args)}"
    if name == "modify_pending_order_payment":
        return f"switch the payment method of order {args.get('order_id')} to {pay('payment_method_id')}"
    if name in ("modify_pending_order_items", "exchange_delivered_order_items"):
        pairs = []
        for old, new in zip(args.get("item_ids", []), args.get("new_item_ids", [])):
            info = item_info(domain, new)
            options = ", ".join(f"{k}: {v}" for k, v in info[1].items()) if info else f"item {new}"
            pairs.append(f"the {describe_item(domain, old)} to the option with {options}")
        verb = "change" if name == "modify_pending_order_items" else "exchange"
        return (f"in order {args.get('order_id')}, {verb} {_join(pairs)}, with the price difference paid with or "
                f"refunded to {pay('payment_method_id')}")
    if name == "return_delivered_order_items":
        items = _join([describe_item(domain, i) for i in args.get("item_ids", [])])
        return (f"return the {items} from order {args.get('order_id')}, with the refund going to "
                f"{pay('payment_method_id')}")
    listed = ", ".join(f"{k}: {json.dumps(v)}" for k, v in args.items())
    return f"call {name} with {listed}"


def write_reminder(name: str) -> str:
    """A policy reminder that belongs with the confirmation of some writes."""
    if name in ("modify_pending_order_items", "exchange_delivered_order_items"):
        return ("Please note this can only be done once for this order, so make sure these are all the items you "
                "want to change.")
    return ""


def done_summary(domain: str, name: str, args: dict[str, Any], output: str) -> str:
    """What the agent says once a write has gone through."""
    rid, oid = args.get("reservation_id"), args.get("order_id")
    if name == "book_reservation":
        try:
            new_id = json.loads(output).get("reservation_id")
        except (json.JSONDecodeError, AttributeError):
            new_id = None
        return f"Your new reservation {new_id} is booked." if new_id else "Your new reservation is booked."
    summaries = {
        "cancel_reservation": f"Reservation {rid} has been cancelled.",
        "update_reservation_baggages": f"The baggage on reservation {rid} has been updated.",
        "update_reservation_flights": f"Reservation {rid} has been updated.",
        "update_reservation_passengers": f"The passenger details on reservation {rid} have been updated.",
        "send_certificate": "The travel certificate has been issued to your account.",
        "cancel_pending_order": f"Order {oid} has been cancelled.",
        "modify_pending_order_address": f"The shipping address of order {oid} has been updated.",
        "modify_user_address": "Your default address has been updated.",
        "modify_pending_order_payment": f"The payment method of order {oid} has been updated.",
        "modify_pending_order_items": f"The items in order {oid} have been modified.",
        "exchange_delivered_order_items": (f"The exchange for order {oid} has been requested; you'll receive an "
                                           "email with instructions for sending the items back."),
        "return_delivered_order_items": (f"The return for order {oid} has been requested; you'll receive an "
                                         "email with instructions for sending the items back."),
    }
    return summaries.get(name, "That's done.")


def subject(name: str, args: dict[str, Any]) -> str:
    """A short name for what a write is about ("reservation X", "order Y", "the new booking")."""
    if args.get("reservation_id"):
        return f"reservation {args['reservation_id']}"
    if args.get("order_id"):
        return f"order {args['order_id']}"
    if name == "book_reservation":
        return "the new booking"
    if name == "modify_user_address":
        return "your default address"
    return "your next request"


def details_question(name: str, args: dict[str, Any]) -> str:
    """What to ask for when the user has stated a request but not its supporting details."""
    wants = []
    if "total_baggages" in args and name == "book_reservation":
        wants.append("how many checked bags you will have")
    if "insurance" in args:
        wants.append("whether you would like travel insurance")
    if "passengers" in args and name == "update_reservation_passengers":
        wants.append("the new passenger's date of birth")
    if any(k in args for k in ("payment_id", "payment_methods", "payment_method_id")):
        wants.append("which payment method you would like to use")
    if name in ("modify_pending_order_items", "exchange_delivered_order_items"):
        wants.append("your preferences for the new options")
    if not wants:
        wants.append("any details or preferences I should know about")
    return f"could you tell me {_join(wants)}?"


def figure_sentence(write: WriteStep, figure: Figure) -> str:
    """A sentence stating an amount to communicate, in the words that fit its write."""
    v = f"${figure.value}"
    name, sign = write.name, figure.sign
    if name == "book_reservation":
        return f"The total price is {v}."
    if name == "update_reservation_flights":
        return {"-": f"You will be refunded {v} for the fare difference.",
                "+": f"The fare difference of {v} will be charged."}.get(sign, f"The fare difference is {v}.")
    if name == "cancel_reservation":
        return f"You will receive a refund of {v}."
    if name == "update_reservation_baggages":
        return f"The fee for the extra bags is {v}."
    if name == "send_certificate":
        return f"The certificate will be worth {v}."
    if name == "cancel_pending_order":
        return f"The refund of {v} will go back to the original payment method."
    if name == "return_delivered_order_items":
        return f"The refund will be {v}."
    if name in ("modify_pending_order_items", "exchange_delivered_order_items"):
        return {"-": f"You will be refunded the price difference of {v}.",
                "+": f"The price difference of {v} will be charged."}.get(sign, f"The price difference is {v}.")
    if name == "modify_pending_order_payment":
        return f"The order total of {v} will be charged to the new payment method."
    return f"The amount involved is {v}."
