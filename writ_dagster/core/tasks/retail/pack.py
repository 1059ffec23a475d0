"""What the core asks of the retail domain (see :mod:`writ_dagster.core.domains.pack`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from writ_dagster.core.domains.pack import PART_KINDS, Call, DomainPack, Identification, IdField, TakeBack
from writ_dagster.core.domains.registry import Domain
from writ_dagster.core.tasks.retail.items import item_info


class RetailPack(DomainPack):
    """The retail domain: orders and their items, users found by email or by name and zip."""

    part_kinds = frozenset(PART_KINDS)
    target_keys = ("order_id",)
    record_words = {"orders": "order"}
    owned_tables = {"user_id": "users", "order_id": "orders"}
    named_in_words = frozenset({"user_id", "payment_method_id", "item_ids", "new_item_ids"})
    id_pattern = r"#W\d+|\b[a-z]+_[a-z]+_\d+\b"  # an order "#W2378156", a user "yusuf_rossi_9620"
    # A change of mind: the writes on one existing order (not the default address).
    take_back = {
        "cancel_pending_order": TakeBack("cancel {x}", "the cancellation"),
        "modify_pending_order_items": TakeBack("change the items of {x}", "the item change"),
        "modify_pending_order_address": TakeBack("change the shipping address of {x}", "the new address"),
        "modify_pending_order_payment": TakeBack("change the payment method of {x}", "the payment change"),
        "exchange_delivered_order_items": TakeBack("exchange the items of {x}", "the exchange"),
        "return_delivered_order_items": TakeBack("return the items of {x}", "the return"),
    }
    final_tools = frozenset({"cancel_pending_order"})
    # A user gives their email, or their name and zip code; the agent asks for either.
    identification = Identification(
        fields=(
            IdField("email", "email"),
            IdField("first_name", "name.first_name", slips=False),
            IdField("last_name", "name.last_name", slips=False),
            IdField("zip", "address.zip"),
        ),
        ask="email_or_name",
        name_field="first_name",
    )

    def extra_amounts(self, domain: Domain, name: str, arguments: dict[str, Any]) -> dict[float, str]:
        """Item exchanges and returns: the price difference or the refund the tools do not print."""
        found: dict[float, str] = {}
        if name in ("modify_pending_order_items", "exchange_delivered_order_items"):
            old = order_item_prices(domain, arguments.get("order_id", ""), arguments.get("item_ids", []))
            new = [p for p in (item_info(domain, i) for i in arguments.get("new_item_ids", [])) if p]
            if old and len(new) == len(old):
                diff = round(sum(n[2] for n in new) - sum(old), 2)
                found[round(abs(diff), 2)] = "+" if diff > 0 else "-"
        if name == "return_delivered_order_items":
            paid = order_item_prices(domain, arguments.get("order_id", ""), arguments.get("item_ids", []))
            if paid:
                found[round(sum(paid), 2)] = "-"
        return found

    def payment_words(self, method: Any | None, payment_id: str) -> str:
        return payment_words(method, payment_id)

    def described_values(self, domain: Domain, value: str) -> list[Any]:
        """An item id: its product's name, its options and its price."""
        item = item_info(domain, value)
        return [item[0], *item[1].values(), item[2]] if item is not None else []

    def lookup_words(self, name: str, arguments: dict[str, Any]) -> str:
        if name == "get_user_details":
            return f"a profile with the user id {arguments.get('user_id', '')}"
        if name == "find_user_id_by_email":
            return f"an account with the email address {arguments.get('email', '')}"
        return (
            f"an account for {arguments.get('first_name', '')} {arguments.get('last_name', '')} with the zip code "
            f"{arguments.get('zip', '')}"
        )

    def stray_write(self, db: Any, user_id: str | None) -> Call | None:
        """The DB's first user's default address changed (its zip code one digit off)."""
        users = getattr(db, "users", {})
        first = min(users) if users else None
        record = users.get(first) if first else None
        if record is None:
            return None
        addr = record.address.model_dump() if hasattr(record.address, "model_dump") else dict(record.address)
        return "modify_user_address", {"user_id": first, **addr, "zip": _one_digit_off(str(addr["zip"]))}


def _one_digit_off(value: str) -> str:
    """``value`` with its last digit one more (mod 10), as a misread; unchanged in case without digits."""
    digits = [i for i, c in enumerate(value) if c.isdigit()]
    if not digits:
        return value.upper() if value != value.upper() else value.lower()
    i = digits[-1]
    return value[:i] + str((int(value[i]) + 1) % 10) + value[i + 1 :]


def order_item_prices(domain: Domain, order_id: str, item_ids: Iterable[str]) -> list[float]:
    """Prices paid for ``item_ids`` of a base-DB order (one per id, duplicates included)."""
    orders = getattr(domain.base.db, "orders", {}) or {}
    order = orders.get(order_id)
    if order is None:
        return []
    pool = [(it.item_id, float(it.price)) for it in order.items]
    prices: list[float] = []
    for item_id in item_ids:
        for i, (iid, price) in enumerate(pool):
            if iid == item_id:
                prices.append(price)
                pool.pop(i)
                break
    return prices


def payment_words(method: Any | None, payment_id: str) -> str:
    """A retail payment method in words: its source is the record's, or the id's prefix ("gift_card_0123")."""
    source = getattr(method, "source", None) or payment_id.rsplit("_", 1)[0]
    if source == "credit_card":
        brand = getattr(method, "brand", "") or "credit"
        last = getattr(method, "last_four", "")
        return f"{brand} credit card ending in {last}" if last else f"{brand} credit card"
    if source == "gift_card":
        return f"gift card {payment_id}"
    if source == "paypal":
        return "PayPal account"
    return payment_id


PACK = RetailPack()
