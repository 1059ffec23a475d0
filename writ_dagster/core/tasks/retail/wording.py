"""How the scripted agent words retail writes: the details before confirmation, what was done,
what to ask for, and a sentence per amount. Tools not named here get the generic wording."""

from __future__ import annotations

import random
from typing import Any

from writ_dagster.core.domains.entities import describe_payment
from writ_dagster.core.domains.wording import Wording, join
from writ_dagster.core.language.pools import Slots, pick, pools
from writ_dagster.core.tasks.retail.items import describe_item, item_info

# The pools are data: the "wording" section of this folder's phrases.yaml.
_W = pools(__name__.rpartition(".")[0])["wording"]

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
    write_templates = _W["describe_write"]  # the description of a write, per tool

    def details(self, user_id: str, name: str, args: dict[str, Any]) -> Slots:
        """The slots of a write's description: its arguments as said, and the words worked out from them
        (those that take work, only when the template names them)."""
        domain, words = self.domain, _W["details"]
        slots = Slots(
            order_id=args.get("order_id"),
            reason=args.get("reason"),
            address=lambda: _address(args),
            pay=lambda: "your " + describe_payment(domain, user_id, args.get("payment_method_id", "")),
        )
        if name in _ITEM_CHANGES:
            pairs = []
            for old, new in zip(args.get("item_ids", []), args.get("new_item_ids", [])):
                info = item_info(domain, new)
                options = ", ".join(f"{k}: {v}" for k, v in info[1].items()) if info else f"item {new}"
                pairs.append(words["item_pair"].format(item=describe_item(domain, old), options=options))
            slots["pairs"] = join(pairs)
        if name == "return_delivered_order_items":
            slots["items"] = join([describe_item(domain, i) for i in args.get("item_ids", [])])
        return slots

    def write_reminder(self, name: str, rng: random.Random | None = None) -> str:
        """Item changes can be made once per order: say so with the confirmation."""
        if name in _ITEM_CHANGES:
            return pick(rng, _W["write_reminder"]["say"])
        return super().write_reminder(name, rng)

    def done_summary(self, name: str, args: dict[str, Any], output: str, rng: random.Random | None = None) -> str:
        """What the agent says once a write has gone through."""
        oid = args.get("order_id")
        mail = pick(rng, _W["done_summary"]["mail"])
        summaries = _W["done_summary"]["done"]
        if name in summaries:
            return pick(rng, summaries[name], mail=mail, oid=oid)
        return super().done_summary(name, args, output, rng)

    def subject(self, name: str, args: dict[str, Any]) -> str:
        """A short name for what a write is about ("order Y", "your default address")."""
        if args.get("order_id"):
            return pick(None, _W["subject"]["record"], order_id=args["order_id"])
        if name == "modify_user_address":
            return pick(None, _W["subject"]["modify_user_address"])
        return super().subject(name, args)

    def details_wanted(self, name: str, args: dict[str, Any]) -> list[str]:
        """The payment method where the write has one, then preferences for new item options."""
        wants = super().details_wanted(name, args)
        if name in _ITEM_CHANGES:
            wants.append(_W["details_wanted"]["options"])
        return wants

    def figure_sentence(self, name: str, sign: str, value: str, rng: random.Random | None = None) -> str:
        """A sentence stating an amount of a retail write."""
        v = value
        if name == "cancel_pending_order":
            return pick(rng, _W["figure_sentence"]["cancel_pending_order"], v=v)
        if name == "return_delivered_order_items":
            return pick(rng, _W["figure_sentence"]["return_delivered_order_items"], v=v)
        if name in _ITEM_CHANGES:
            if sign == "-":
                return pick(rng, _W["figure_sentence"]["item_change_refund"], v=v)
            if sign == "+":
                return pick(rng, _W["figure_sentence"]["item_change_charge"], v=v)
            return f"The price difference is {v}."
        if name == "modify_pending_order_payment":
            return pick(rng, _W["figure_sentence"]["modify_pending_order_payment"], v=v)
        return super().figure_sentence(name, sign, value, rng)


WORDING = RetailWording
