"""Item changes: which other option of a product an item may go to, and how the difference is settled.

At low burden the user spells out the new option; at high burden they state a rule ("the
cheapest available option that keeps the colour") that picks exactly one variant, so the
agent has to open the product to resolve it. Shared by item modification, exchange and return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from writ_dagster.core.language import formats
from writ_dagster.core.tasks.blueprints import compare
from writ_dagster.core.tasks.models import Comparison
from writ_dagster.core.tasks.retail import policy
from writ_dagster.core.tasks.retail.locate import View, unique_best
from writ_dagster.core.tasks.retail.phrases import SAY

_SAY: dict[str, str] = SAY["variants"]


def options_text(options: dict[str, str]) -> str:
    """Options as the user lists them ("colour: red, size: M")."""
    return _SAY["options_joiner"].join(_SAY["option"].format(name=k, value=v) for k, v in options.items())


def alternatives(product: Any, item: Any) -> list[Any]:
    """The variants of ``product`` the policy lets ``item`` change to."""
    return [
        x
        for x in product.variants.values()
        if policy.valid_item_change(item.product_id, item.item_id, product.product_id, x.item_id, x.available)
    ]


def variant_rules(product: Any, item: Any) -> list[tuple[str, str, Any]]:
    """(rule id, the user's words, chosen variant) for every rule that picks exactly one variant."""
    alts = alternatives(product, item)
    out: list[tuple[str, str, Any]] = []
    for rule, words, highest in (
        ("cheapest", _SAY["cheapest"], False),
        ("priciest", _SAY["priciest"], True),
    ):
        best = unique_best(alts, lambda x: x.price, highest)
        if best is not None:
            out.append((rule, words, best))
    for opt, value in item.options.items():
        same = [x for x in alts if x.options.get(opt) == value]
        best = unique_best(same, lambda x: x.price, False)
        if best is not None and len(same) > 1:
            out.append((f"keep:{opt}", _SAY["keep_same"].format(opt=opt, value=value), best))
        only = [
            x
            for x in alts
            if x.options.get(opt) != value and all(x.options.get(k) == w for k, w in item.options.items() if k != opt)
        ]
        if len(only) == 1:
            out.append((f"only:{opt}", _SAY["only_different"].format(opt=opt), only[0]))
        elif len(only) > 1:
            best = unique_best(only, lambda x: x.price, False)
            if best is not None:
                out.append((f"only:{opt}", _SAY["cheapest_different"].format(opt=opt), best))
    return out


def changeable(order: Any) -> list[Any]:
    """Items of ``order`` the user can name unambiguously (their product occurs once in it)."""
    counts: dict[str, int] = {}
    for i in order.items:
        counts[i.product_id] = counts.get(i.product_id, 0) + 1
    return [i for i in order.items if counts[i.product_id] == 1]


@dataclass
class Change:
    """Chosen item swaps in one order and how the user asks for them."""

    items: list[Any]
    variants: list[Any]
    wants: list[str]
    criteria: list[str]
    compared: list[str] = field(default_factory=list)  # products checked beyond the changed items'


def changes(v: View, order: Any) -> list[Change]:
    """Ways to change items of ``order`` into other variants, in the order to try them.

    Low burden: one random swap (or two) that the user spells out option by option. High
    burden: the user states a rule per item ("the cheapest available option that keeps the
    colour"), for one item or, when one rule decides each of them, for every item at once.
    """
    items = [i for i in changeable(order) if alternatives(v.product(i.product_id), i)]
    if not items:
        return []
    if not v.high:
        return [_spelled_change(v, items)]
    rules = {i.item_id: variant_rules(v.product(i.product_id), i) for i in items}
    out = _one_item_changes(v, items, rules)
    if len(items) == len(order.items) > 1:
        out += _every_item_changes(items, rules)
    if len(order.items) > 1 and len(changeable(order)) == len(order.items):
        out += _downgrade(v, order)
    v.rng.shuffle(out)
    return out


def _spelled_change(v: View, items: list[Any]) -> Change:
    """One random swap (two, now and then), each new option spelled out."""
    k = 2 if len(items) > 1 and v.rng.random() < 0.3 else 1
    chosen = v.rng.sample(items, k)
    variants = [v.rng.choice(alternatives(v.product(i.product_id), i)) for i in chosen]
    wants = [
        _SAY["spelled"].format(name=i.name, options=options_text(i.options), new_options=options_text(x.options))
        for i, x in zip(chosen, variants)
    ]
    return Change(chosen, variants, wants, [])


def _one_item_changes(v: View, items: list[Any], rules: dict[str, list[tuple[str, str, Any]]]) -> list[Change]:
    """For each item with a deciding rule, that item alone changed by one of its rules (drawn)."""
    out: list[Change] = []
    for item in items:
        if rules[item.item_id]:
            _, words, variant = v.rng.choice(rules[item.item_id])
            out.append(
                Change(
                    [item],
                    [variant],
                    [_SAY["one_item"].format(name=item.name, words=words)],
                    [_SAY["one_item_criterion"].format(name=item.name, words=words)],
                )
            )
    return out


def _every_item_changes(items: list[Any], rules: dict[str, list[tuple[str, str, Any]]]) -> list[Change]:
    """Every item changed by one rule, for each rule that decides all of them."""
    out: list[Change] = []
    for rule, words in (
        ("cheapest", _SAY["every_cheapest"]),
        ("priciest", _SAY["every_priciest"]),
    ):
        picked = [next((x for r, _, x in rules[i.item_id] if r == rule), None) for i in items]
        if all(x is not None for x in picked):
            out.append(
                Change(
                    items,
                    picked,
                    [_SAY["every_item"].format(words=words)],
                    [_SAY["every_item_criterion"].format(words=words)],
                )
            )
    return out


def _downgrade(v: View, order: Any) -> list[Change]:
    """The change "downgrade whatever can be had cheaper", for which every product in the order must be
    checked; none when no item has a cheaper option or one item's cheapest is not unique."""
    swaps: list[tuple[Any, Any]] = []  # (item, its cheapest option)
    for i in order.items:
        cheaper = [x for x in alternatives(v.product(i.product_id), i) if x.price < i.price]
        best = unique_best(cheaper, lambda x: x.price, False)
        if cheaper and best is None:
            return []
        if best is not None:
            swaps.append((i, best))
    if not swaps:
        return []
    return [
        Change(
            [i for i, _ in swaps],
            [x for _, x in swaps],
            [_SAY["downgrade"]],
            [_SAY["downgrade_criterion"]],
            compared=[i.product_id for i in order.items],
        )
    ]


def settle(v: View, order: Any, change: Change) -> tuple[Any, float] | None:
    """A payment method that may settle the price difference, and the difference."""
    pairs = [(i.price, x.price) for i, x in zip(change.items, change.variants)]
    diff = policy.price_difference(pairs)
    raw = sum(new - old for old, new in pairs)  # the modify tool checks the unrounded sum
    methods = [
        m
        for m in v.user.payment_methods.values()
        if policy.can_settle_difference(m.source, getattr(m, "balance", None), max(diff, raw))
    ]
    if not methods:
        return None
    original = order.payment_history[0].payment_method_id
    # Most users settle with the method the order was paid with; sometimes they pick another.
    preferred = [m for m in methods if m.id == original]
    method = preferred[0] if preferred and v.rng.random() < 0.6 else v.rng.choice(methods)
    return method, diff


def saving_leader(v: View, status: str, tool: str) -> tuple[Any, Any, list[Any], list[str], Comparison] | None:
    """The one item, over all the user's orders of ``status``, whose cheapest available other
    option is cheaper than what was paid by the most: (order, item, its cheaper options, every
    product compared, the comparison). A careful agent opens every such order and every product.
    None when that item is not unique or the policy does not let ``tool`` act on it.
    """
    contenders = [o for o in v.orders if v.status0(o) == status]
    if any(policy.MODIFY_ITEMS in v.ops(o) for o in contenders):
        return None  # prices of changed items no longer show what was paid
    products: list[str] = []
    savings: list[tuple[Any, Any, float, list[Any]]] = []
    for o in contenders:
        for i in o.items:
            products.append(i.product_id)
            cheaper = [x for x in alternatives(v.product(i.product_id), i) if x.price < i.price]
            if cheaper:
                savings.append((o, i, i.price - min(x.price for x in cheaper), cheaper))
    best = unique_best(savings, lambda sv: sv[2], True)
    if best is None or len(savings) < 2:
        return None
    o, item, _, cheaper = best
    if o.status != status or not policy.may_follow(v.ops(o), tool) or item not in changeable(o):
        return None
    how = compare(
        _SAY["gap_things"].format(status=status),
        _SAY["gap_criterion"],
        best,
        savings,
        lambda sv: _SAY["gap_item"].format(item=sv[1].name, order_id=sv[0].order_id),
        lambda sv: _SAY["gap"].format(amount=formats.money(sv[2])),
    )
    return o, item, cheaper, list(dict.fromkeys(products)), how
