"""How the scripted agent words retail writes: the details before confirmation, what was done,
what to ask for, and a sentence per amount. Tools not named here get the generic wording."""

from __future__ import annotations

import random
from typing import Any

from writ_dagster.core.domains.entities import describe_item, describe_payment, item_info
from writ_dagster.core.domains.wording import Wording, choose, join

_ITEM_CHANGES = ("modify_pending_order_items", "exchange_delivered_order_items")


def _address(args: dict[str, Any]) -> str:
    parts = [
        args.get("address1"),
        args.get("address2"),
        args.get("city"),
        f"{args.get('state', '')} {args.get('zip', '')}".strip(),
        args.get("country"),
    ]
    return ", ".join(p for p in parts if p)


class RetailWording(Wording):
    """Retail wording per write tool."""

    things = "orders"

    def describe_write(self, user_id: str, name: str, args: dict[str, Any]) -> str:
        """The details of a write, as the agent lists them before asking for confirmation."""
        domain = self.domain
        pay = lambda key: "your " + describe_payment(domain, user_id, args.get(key, ""))  # noqa: E731
        if name == "cancel_pending_order":
            return f"cancel order {args.get('order_id')} (reason: {args.get('reason')})"
        if name == "modify_pending_order_address":
            return f"change the shipping address of order {args.get('order_id')} to {_address(args)}"
        if name == "modify_user_address":
            return f"update your default address to {_address(args)}"
        if name == "modify_pending_order_payment":
            return f"switch the payment method of order {args.get('order_id')} to {pay('payment_method_id')}"
        if name in _ITEM_CHANGES:
            pairs = []
            for old, new in zip(args.get("item_ids", []), args.get("new_item_ids", [])):
                info = item_info(domain, new)
                options = ", ".join(f"{k}: {v}" for k, v in info[1].items()) if info else f"item {new}"
                pairs.append(f"the {describe_item(domain, old)} to the option with {options}")
            verb = "change" if name == "modify_pending_order_items" else "exchange"
            return (
                f"in order {args.get('order_id')}, {verb} {join(pairs)}, with the price difference paid with or "
                f"refunded to {pay('payment_method_id')}"
            )
        if name == "return_delivered_order_items":
            items = join([describe_item(domain, i) for i in args.get("item_ids", [])])
            return (
                f"return the {items} from order {args.get('order_id')}, with the refund going to "
                f"{pay('payment_method_id')}"
            )
        return super().describe_write(user_id, name, args)

    def write_reminder(self, name: str, rng: random.Random | None = None) -> str:
        """Item changes can be made once per order: say so with the confirmation."""
        if name in _ITEM_CHANGES:
            return choose(
                rng,
                [
                    "Please note this can only be done once for this order, so make sure these are all the items "
                    "you want to change.",
                    "Keep in mind that an order's items can be changed only once, so please check this covers every "
                    "item you want changed.",
                    "One thing to know: this can be done a single time per order, so nothing else in it can be "
                    "changed afterwards.",
                    "Just so you know, items of an order can only be changed once; after this, no further item "
                    "changes are possible on it.",
                ],
            )
        return super().write_reminder(name, rng)

    def done_summary(self, name: str, args: dict[str, Any], output: str, rng: random.Random | None = None) -> str:
        """What the agent says once a write has gone through."""
        oid = args.get("order_id")
        mail = choose(
            rng,
            [
                "you'll receive an email with instructions for sending the items back",
                "an email with instructions for sending the items back is on its way",
                "you'll get an email explaining how to send the items back",
            ],
        )
        summaries = {
            "cancel_pending_order": [
                f"Order {oid} has been cancelled.",
                f"I've cancelled order {oid}.",
                f"Order {oid} is now cancelled.",
                f"The cancellation of order {oid} went through.",
            ],
            "modify_pending_order_address": [
                f"The shipping address of order {oid} has been updated.",
                f"Order {oid} will now ship to the new address.",
                f"I've changed the shipping address on order {oid}.",
            ],
            "modify_user_address": [
                "Your default address has been updated.",
                "I've updated your default address.",
                "Your account now has the new default address.",
            ],
            "modify_pending_order_payment": [
                f"The payment method of order {oid} has been updated.",
                f"Order {oid} is now paid with the new method.",
                f"I've switched the payment method on order {oid}.",
            ],
            "modify_pending_order_items": [
                f"The items in order {oid} have been modified.",
                f"I've updated the items in order {oid}.",
                f"Order {oid} now has the new items.",
            ],
            "exchange_delivered_order_items": [
                f"The exchange for order {oid} has been requested; {mail}.",
                f"I've requested the exchange for order {oid}; {mail}.",
            ],
            "return_delivered_order_items": [
                f"The return for order {oid} has been requested; {mail}.",
                f"I've set up the return for order {oid}; {mail}.",
            ],
        }
        if name in summaries:
            return choose(rng, summaries[name])
        return super().done_summary(name, args, output, rng)

    def subject(self, name: str, args: dict[str, Any]) -> str:
        """A short name for what a write is about ("order Y", "your default address")."""
        if args.get("order_id"):
            return f"order {args['order_id']}"
        if name == "modify_user_address":
            return "your default address"
        return super().subject(name, args)

    def details_wanted(self, name: str, args: dict[str, Any]) -> list[str]:
        """The payment method where the write has one, then preferences for new item options."""
        wants = super().details_wanted(name, args)
        if name in _ITEM_CHANGES:
            wants.append("your preferences for the new options")
        return wants

    def figure_sentence(self, name: str, sign: str, value: str, rng: random.Random | None = None) -> str:
        """A sentence stating an amount of a retail write."""
        v = value
        if name == "cancel_pending_order":
            return choose(
                rng,
                [
                    f"The refund of {v} will go back to the original payment method.",
                    f"You'll get {v} back on the original payment method.",
                    f"{v} will be refunded to the payment method you used.",
                ],
            )
        if name == "return_delivered_order_items":
            return choose(rng, [f"The refund will be {v}.", f"You'll be refunded {v}.", f"The refund comes to {v}."])
        if name in _ITEM_CHANGES:
            if sign == "-":
                return choose(
                    rng,
                    [
                        f"You will be refunded the price difference of {v}.",
                        f"The price difference of {v} comes back to you.",
                        f"You'll get {v} back for the price difference.",
                    ],
                )
            if sign == "+":
                return choose(
                    rng,
                    [
                        f"The price difference of {v} will be charged.",
                        f"There is a price difference of {v} to pay.",
                        f"You'll be charged {v} for the difference.",
                    ],
                )
            return f"The price difference is {v}."
        if name == "modify_pending_order_payment":
            return choose(
                rng,
                [
                    f"The order total of {v} will be charged to the new payment method.",
                    f"The new payment method will be charged the order total of {v}.",
                ],
            )
        return super().figure_sentence(name, sign, value, rng)


WORDING = RetailWording
