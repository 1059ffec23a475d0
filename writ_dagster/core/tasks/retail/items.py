"""Retail items in the base DB: a variant's product name, options and price, and how a customer names it."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from writ_dagster.core.domains.registry import Domain


@lru_cache(maxsize=4)
def _item_index(domain: Domain) -> dict[str, tuple[str, dict[str, str], float]]:
    db: Any = domain.base.db  # tau2's DB models are typed as BaseModel
    products = getattr(db, "products", {}) or {}
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
