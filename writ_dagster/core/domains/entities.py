"""Read-only look-ups in a domain's base DB that user scripts and the scripted agent share.

Both sides talk about payment methods and amounts in words ("visa credit card ending in 2413");
these helpers turn DB ids into those words and list the money amounts a write decides, so a
communicated figure can be tied to the write it belongs to. What only one domain's records hold
(retail's items) is in its folder, reached through its pack.
They sit beside the registry, below task composing, user scripts and the simulation, since
all three speak of the same records; each takes the :class:`Domain` object, not its name.
"""

from __future__ import annotations

import json
import re
from typing import Any

from writ_dagster.core.domains.pack import pack_of
from writ_dagster.core.domains.registry import Domain

_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w])")


def _db(domain: Domain) -> Any:
    return domain.base.db


def payment_method(domain: Domain, user_id: str | None, payment_id: str) -> Any | None:
    """The payment method ``payment_id`` of ``user_id`` in the base DB (None if unknown)."""
    users = getattr(_db(domain), "users", {})
    user = users.get(user_id) if user_id else None
    methods = getattr(user, "payment_methods", None) or {}  # a domain's users may hold none (tau2's mock)
    return methods.get(payment_id)


def describe_payment(domain: Domain, user_id: str | None, payment_id: str) -> str:
    """Words for a payment method, as a customer would name it (the domain's pack knows its forms)."""
    return pack_of(domain).payment_words(payment_method(domain, user_id, payment_id), payment_id)


def money_amounts(domain: Domain, name: str, arguments: dict[str, Any], output: str) -> dict[float, str]:
    """Amounts a write decides, each with a sign: '+' charged to the user, '-' refunded, '' unknown.

    Every number in the call's arguments and result counts; the domain's pack adds what the tools do
    not print (retail: an item exchange's price difference, a return's refund).
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
    found.update(pack_of(domain).extra_amounts(domain, name, arguments))
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
