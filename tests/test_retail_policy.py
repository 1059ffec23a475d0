"""The retail rules the composer relies on, checked against the policy text and against the tools.

Two kinds of check: the policy's own cases (the sentences quoted in ``policy.py``), and an
agreement check on real orders of the DB — wherever a tool enforces a rule, the predicate
and the tool must give the same verdict on every order and payment method tried.
"""

from __future__ import annotations

import re

import pytest
from tau2.data_model.message import ToolCall

from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.tasks.retail import policy

DOMAIN = get_domain("retail")
DB = DOMAIN.base.db


def _call(name: str, **arguments: object) -> bool:
    """Run one tool call on a fresh fork; True when it succeeds."""
    fork = DOMAIN.base.fork()
    msg = DOMAIN.environment(fork.db).get_response(ToolCall(id="t", name=name, arguments=arguments))
    return not msg.error


def _sample_orders(status: str | None = None, limit: int = 60) -> list:
    orders = [o for o in DB.orders.values() if status is None or o.status == status]
    return orders[:: max(1, len(orders) // limit)][:limit]


# -- the policy's own words ------------------------------------------------------------------------
def test_cancel_reasons_are_the_two_the_policy_quotes() -> None:
    m = re.search(r"the reason \(either '([^']+)' or '([^']+)'\) for cancellation", DOMAIN.policy)
    assert m is not None, "the policy text no longer states the cancellation reasons"
    assert set(policy.CANCEL_REASONS) == {m.group(1), m.group(2)}


@pytest.mark.parametrize("status,reason,ok", [
    ("pending", "no longer needed", True),
    ("pending", "ordered by mistake", True),
    ("pending", "found a better price", False),  # "Other reasons are not acceptable."
    ("pending", "No longer needed", False),  # the reason is an exact phrase
    ("processed", "no longer needed", False),  # "only be cancelled if its status is 'pending'"
    ("delivered", "ordered by mistake", False),
    ("pending (item modified)", "no longer needed", False),  # "not be able to modify or cancel ... anymore"
    ("cancelled", "no longer needed", False),
])
def test_cancel_only_pending_for_an_accepted_reason(status: str, reason: str, ok: bool) -> None:
    assert policy.can_cancel(status, reason) is ok


@pytest.mark.parametrize("status,ok", [
    ("pending", True), ("pending (item modified)", False), ("processed", False), ("delivered", False),
    ("cancelled", False), ("exchange requested", False),
])
def test_modify_only_pending(status: str, ok: bool) -> None:
    assert policy.can_modify(status) is ok


@pytest.mark.parametrize("status,ok", [
    ("delivered", True), ("pending", False), ("processed", False), ("return requested", False),
    ("exchange requested", False), ("cancelled", False),
])
def test_return_or_exchange_only_delivered(status: str, ok: bool) -> None:
    assert policy.can_return_or_exchange(status) is ok


@pytest.mark.parametrize("old_product,old_item,new_product,new_item,available,ok", [
    ("p1", "i1", "p1", "i2", True, True),
    ("p1", "i1", "p1", "i1", True, False),  # "of different product option"
    ("p1", "i1", "p2", "i2", True, False),  # "There cannot be any change of product types"
    ("p1", "i1", "p1", "i2", False, False),  # "an available new item"
])
def test_item_change_same_product_other_available_option(old_product: str, old_item: str, new_product: str,
                                                          new_item: str, available: bool, ok: bool) -> None:
    assert policy.valid_item_change(old_product, old_item, new_product, new_item, available) is ok


def test_price_difference_sums_and_rounds_to_cents() -> None:
    assert policy.price_difference([(10.10, 12.20), (5.00, 4.00)]) == pytest.approx(1.10)
    assert policy.price_difference([(0.1, 0.2)] * 3) == 0.3  # not 0.30000000000000004
    assert policy.price_difference([(99.99, 49.50)]) == -50.49


@pytest.mark.parametrize("source,balance,diff,ok", [
    ("gift_card", 50.0, 49.99, True),
    ("gift_card", 50.0, 50.0, True),  # "enough balance to cover" includes exactly enough
    ("gift_card", 50.0, 50.01, False),
    ("gift_card", 0.0, -20.0, True),  # a refund of the difference needs no balance
    ("credit_card", None, 5000.0, True),
    ("paypal", None, 5000.0, True),
])
def test_gift_card_must_cover_the_difference(source: str, balance: float | None, diff: float, ok: bool) -> None:
    assert policy.can_settle_difference(source, balance, diff) is ok


@pytest.mark.parametrize("status,payments,current,new,source,balance,total,ok", [
    ("pending", 1, "credit_card_1", "paypal_1", "paypal", None, 100.0, True),
    ("pending", 1, "credit_card_1", "credit_card_1", "credit_card", None, 100.0, False),  # must differ
    ("pending", 1, "credit_card_1", "gift_card_1", "gift_card", 99.0, 100.0, False),  # cover the total
    ("pending", 1, "credit_card_1", "gift_card_1", "gift_card", 100.0, 100.0, True),
    ("pending", 3, "credit_card_1", "paypal_1", "paypal", None, 100.0, False),  # already changed once
    ("processed", 1, "credit_card_1", "paypal_1", "paypal", None, 100.0, False),
    ("pending (item modified)", 2, "credit_card_1", "paypal_1", "paypal", None, 100.0, False),
])
def test_payment_change(status: str, payments: int, current: str, new: str, source: str,
                        balance: float | None, total: float, ok: bool) -> None:
    assert policy.can_change_payment(status, payments, current, new, source, balance, total) is ok


@pytest.mark.parametrize("method,source,original,ok", [
    ("credit_card_1", "credit_card", "credit_card_1", True),  # the original payment method
    ("gift_card_9", "gift_card", "credit_card_1", True),  # or an existing gift card
    ("paypal_2", "paypal", "credit_card_1", False),
    ("credit_card_2", "credit_card", "credit_card_1", False),
])
def test_refund_goes_to_original_method_or_a_gift_card(method: str, source: str, original: str, ok: bool) -> None:
    assert policy.valid_refund_method(method, source, original) is ok


@pytest.mark.parametrize("earlier,tool,ok", [
    ([], policy.CANCEL, True),
    ([policy.MODIFY_ADDRESS], policy.MODIFY_PAYMENT, True),  # address then payment is fine
    ([policy.MODIFY_PAYMENT], policy.MODIFY_ADDRESS, True),
    ([policy.MODIFY_ADDRESS, policy.MODIFY_PAYMENT], policy.MODIFY_ITEMS, True),  # items last
    ([policy.MODIFY_ITEMS], policy.MODIFY_ADDRESS, False),  # nothing after an item change
    ([policy.MODIFY_ITEMS], policy.CANCEL, False),
    ([policy.MODIFY_ITEMS], policy.MODIFY_ITEMS, False),  # "can only be called once"
    ([policy.MODIFY_ADDRESS], policy.MODIFY_ADDRESS, False),
    ([policy.EXCHANGE], policy.RETURN, False),  # a delivered order is returned or exchanged once
    ([policy.RETURN], policy.EXCHANGE, False),
    ([policy.MODIFY_ADDRESS], policy.CANCEL, False),  # a cancellation would void the change
])
def test_writes_that_may_follow_on_one_order(earlier: list[str], tool: str, ok: bool) -> None:
    assert policy.may_follow(earlier, tool) is ok


def test_refund_total_is_the_sum_of_prices() -> None:
    order = next(o for o in DB.orders.values() if len(o.items) > 2)
    assert policy.refund_total(i.price for i in order.items) == round(sum(i.price for i in order.items), 2)


# -- agreement with the tools on real orders ----------------------------------------------------------
def test_cancel_predicate_agrees_with_the_tool() -> None:
    seen = set()
    for order in _sample_orders():
        for reason in (*policy.CANCEL_REASONS, "changed my mind"):
            ok = policy.can_cancel(order.status, reason)
            assert _call("cancel_pending_order", order_id=order.order_id, reason=reason) is ok
            seen.add(ok)
    assert seen == {True, False}


def test_payment_change_predicate_agrees_with_the_tool() -> None:
    seen = set()
    for order in _sample_orders(limit=80):
        user = DB.users[order.user_id]
        current = order.payment_history[0]
        for method in user.payment_methods.values():
            ok = policy.can_change_payment(order.status, len(order.payment_history), current.payment_method_id,
                                           method.id, method.source, getattr(method, "balance", None),
                                           current.amount)
            got = _call("modify_pending_order_payment", order_id=order.order_id, payment_method_id=method.id)
            assert got is ok, (order.order_id, method.id)
            seen.add(ok)
    assert seen == {True, False}


def test_refund_method_predicate_agrees_with_the_tool() -> None:
    seen = set()
    for order in _sample_orders(limit=80):
        user = DB.users[order.user_id]
        for method in user.payment_methods.values():
            ok = policy.can_return_or_exchange(order.status) and policy.valid_refund_method(
                method.id, method.source, order.payment_history[0].payment_method_id)
            got = _call("return_delivered_order_items", order_id=order.order_id,
                        item_ids=[order.items[0].item_id], payment_method_id=method.id)
            assert got is ok, (order.order_id, method.id)
            seen.add(ok)
    assert seen == {True, False}


@pytest.mark.parametrize("tool,status", [("modify_pending_order_items", "pending"),
                                         ("exchange_delivered_order_items", "delivered")])
def test_item_change_predicates_agree_with_the_tools(tool: str, status: str) -> None:
    """For every variant of the first item's product and every payment method: same verdict."""
    seen = set()
    for order in _sample_orders(status, limit=25):
        item = order.items[0]
        product = DB.products[item.product_id]
        user = DB.users[order.user_id]
        for variant in product.variants.values():
            for method in user.payment_methods.values():
                diff = policy.price_difference([(item.price, variant.price)])
                ok = (policy.valid_item_change(item.product_id, item.item_id, product.product_id, variant.item_id,
                                               variant.available)
                      and policy.can_settle_difference(method.source, getattr(method, "balance", None), diff))
                got = _call(tool, order_id=order.order_id, item_ids=[item.item_id], new_item_ids=[variant.item_id],
                            payment_method_id=method.id)
                if variant.item_id == item.item_id and tool == "exchange_delivered_order_items":
                    # The exchange tool lets "the same option" through; the policy does not.
                    assert not ok
                    continue
                assert got is ok, (order.order_id, variant.item_id, method.id)
                seen.add(ok)
    assert seen == {True, False}


def test_other_statuses_are_refused_by_the_tools_too() -> None:
    """Where the predicates say no because of the status, the tools agree (on the DB's own statuses)."""
    for order in _sample_orders(limit=80):
        item = order.items[0]
        other = next((v for v in DB.products[item.product_id].variants.values()
                      if v.item_id != item.item_id and v.available), None)
        if other is None:
            continue
        method = order.payment_history[0].payment_method_id
        if not policy.can_modify(order.status):
            assert not _call("modify_pending_order_items", order_id=order.order_id, item_ids=[item.item_id],
                             new_item_ids=[other.item_id], payment_method_id=method)
        if not policy.can_return_or_exchange(order.status):
            assert not _call("exchange_delivered_order_items", order_id=order.order_id, item_ids=[item.item_id],
                             new_item_ids=[other.item_id], payment_method_id=method)
