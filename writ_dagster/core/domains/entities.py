"""Read-only look-ups in a domain's base DB that user scripts and the scripted agent share.

Both sides talk about payment methods, items and amounts in words ("visa credit card ending
in 2413", "Perfume (size: 100ml)"); these helpers turn DB ids into those words and list the
money amounts a write decides, so a communicated figure can be tied to the write it belongs to.
They sit beside the registry, below task composing, user scripts and the simulation, since
all three speak of the same records; each takes the :class:`Domain` object, not its name.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, Iterable

from writ_dagster.core.domains.registry import Domain

_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w])")


def _db(domain: Domain) -> Any:
    return domain.base.db


def payment_method(domain: Domain, user_id: str | None, payment_id: str) -> Any | None:
    """The payment method ``payment_id`` of ``user_id`` in the base DB (None if unknown)."""
    users = getattr(_db(domain), "users", {})
    user = users.get(user_id) if user_id else None
    if user is not None and payment_id in user.payment_methods:
        return user.payment_methods[payment_id]
    return None


def describe_payment(domain: Domain, user_id: str | None, payment_id: str) -> str:
    """Words for a payment method, as a customer would name it."""
    pm = payment_method(domain, user_id, payment_id)
    source = getattr(pm, "source", None) or payment_id.rsplit("_", 1)[0]
    if source == "credit_card":
        brand = getattr(pm, "brand", "") or "credit"
        last = getattr(pm, "last_four", "")
        return f"{brand} credit card ending in {last}" if last else f"{brand} credit card"
    if source == "gift_card":
        return f"gift card {payment_id}"
    if source == "certificate":
        return f"travel certificate {payment_id}"
    if source == "paypal":
        return "PayPal account"
    return payment_id


@lru_cache(maxsize=4)
def _item_index(domain: Domain) -> dict[str, tuple[str, dict[str, str], float]]:
    products = getattr(_db(domain), "products", {}) or {}
    out: dict[str, tuple[str, dict[str, str], float]] = {}
    for product in products.values():
        for item_id, variant in product.variants.items():
            out[item_id] = (product.name, dict(variant.options), float(variant.price))
    return out


def item_info(domain: Domain, item_id: str) -> tuple[str, dict[str, str], float] | None:
    """(product name, options, current price) of a retail item id, or None."""
    return _item_index(domain).get(item_id)


def describe_item(domain: Domain, item_id: str, with_options: bool = True) -> str:
    """Words for a retail item: its product name and options."""
    info = item_info(domain, item_id)
    if info is None:
        return f"item {item_id}"
    name, options, _ = info
    if not with_options or not options:
        return name
    return f"{name} ({', '.join(f'{k}: {v}' for k, v in options.items())})"


def order_item_prices(domain: Domain, order_id: str, item_ids: Iterable[str]) -> list[float]:
    """Prices paid for ``item_ids`` of a base-DB order (one per id, duplicates included)."""
    orders = getattr(_db(domain), "orders", {}) or {}
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


def money_amounts(domain: Domain, name: str, arguments: dict[str, Any], output: str) -> dict[float, str]:
    """Amounts a write decides, each with a sign: '+' charged to the user, '-' refunded, '' unknown.

    Every number in the call's arguments and result counts; item exchanges and returns add
    the price difference or refund the tools do not print.
    """
    found: dict[float, str] = {}
    for text in (json.dumps(arguments), output):
        for m in _NUMBER.finditer(text):
            value = float(m.group())
            key = round(abs(value), 2)
            if value < 0:
                found[key] = "-"
            else:
                found.setdefault(key, "")
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


def amount_matches(figure: str, amounts: dict[float, str]) -> str | None:
    """The sign under which ``figure`` (a communicate_info string) is among ``amounts``, else None."""
    try:
        value = round(abs(float(figure.replace(",", "").lstrip("$"))), 2)
    except ValueError:
        return None
    for amount, sign in amounts.items():
        if abs(amount - value) < 0.005:
            return sign
    return None


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


def locate_entity(domain: Domain, user_id: str, entity: str) -> str | None:
    """Where ``entity`` ('table:key') is in ``domain``'s installed τ²-bench DB, or None if it is not there.

    A top-level table (``users``, ``flights``, ``orders``…) is looked up by key; a nested
    collection (``payment_methods``) in the task's user's record.
    """
    table, _, key = entity.partition(":")
    tables = domain.base.tables
    if table in tables:
        return f"{table}[{key}]" if key in tables[table] else None
    user = tables.get("users", {}).get(user_id)
    nested = _field(user, table) if user is not None else None
    if isinstance(nested, dict) and key in nested:
        return f"users[{user_id}].{table}[{key}]"
    return None
