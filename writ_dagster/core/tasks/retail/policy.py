"""The retail policy rules the composer relies on, as small pure predicates and calculators.

Each rule quotes the sentence of tau2's retail ``policy.md`` it encodes. Several of them are
stricter than the tools: ``modify_pending_order_address``/``_payment`` accept any status that
*contains* "pending" (so also "pending (item modified)"), and ``exchange_delivered_order_items``
accepts an exchange to the very same item. A gold plan must follow the policy, not merely get
past the tools, so the composer asks these functions.
"""

from __future__ import annotations

from collections.abc import Iterable

PENDING = "pending"
DELIVERED = "delivered"
ITEMS_MODIFIED = "pending (item modified)"
GIFT_CARD = "gift_card"

# "The user needs to confirm the order id and the reason (either 'no longer needed' or
# 'ordered by mistake') for cancellation. Other reasons are not acceptable."
CANCEL_REASONS = ("no longer needed", "ordered by mistake")

CANCEL = "cancel_pending_order"
MODIFY_ADDRESS = "modify_pending_order_address"
MODIFY_PAYMENT = "modify_pending_order_payment"
MODIFY_ITEMS = "modify_pending_order_items"
RETURN = "return_delivered_order_items"
EXCHANGE = "exchange_delivered_order_items"
MODIFY_USER_ADDRESS = "modify_user_address"
ORDER_WRITES = (CANCEL, MODIFY_ADDRESS, MODIFY_PAYMENT, MODIFY_ITEMS, RETURN, EXCHANGE)


def can_cancel(status: str, reason: str) -> bool:
    """ "An order can only be cancelled if its status is 'pending'" and the reason is one of two."""
    return status == PENDING and reason in CANCEL_REASONS


def can_modify(status: str) -> bool:
    """ "An order can only be modified if its status is 'pending'".

    After an item modification the status is "pending (item modified)" and "The agent will
    not be able to modify or cancel the order anymore", so the match is exact.
    """
    return status == PENDING


def can_return_or_exchange(status: str) -> bool:
    """ "An order can only be returned [exchanged] if its status is 'delivered'"."""
    return status == DELIVERED


def valid_item_change(
    old_product_id: str, old_item_id: str, new_product_id: str, new_item_id: str, new_available: bool
) -> bool:
    """ "each item can be modified [exchanged] to an available new item of the same product but
    of different product option. There cannot be any change of product types"."""
    return old_product_id == new_product_id and old_item_id != new_item_id and new_available


def price_difference(pairs: Iterable[tuple[float, float]]) -> float:
    """What the user pays (positive) or gets back (negative) for (old price, new price) pairs."""
    return round(sum(new - old for old, new in pairs), 2)


def gift_card_covers(balance: float, amount: float) -> bool:
    """ "If the user provides a gift card, it must have enough balance to cover the price
    difference" (or, for a payment change, "the total amount"); a refund needs no balance."""
    return amount <= 0 or balance >= amount


def can_settle_difference(source: str, balance: float | None, difference: float) -> bool:
    """Whether a payment method may pay or receive the price difference of an item change."""
    return source != GIFT_CARD or gift_card_covers(balance or 0.0, difference)


def can_change_payment(
    status: str,
    payments: int,
    current_method: str,
    new_method: str,
    new_source: str,
    new_balance: float | None,
    total: float,
) -> bool:
    """Modify payment: "The user can only choose a single payment method different from the
    original payment method. If the user wants the modify the payment method to gift card, it
    must have enough balance to cover the total amount." The order must be pending and carry
    exactly one payment (the tool refuses anything else: there is one original method only)."""
    if not can_modify(status) or payments != 1 or new_method == current_method:
        return False
    return new_source != GIFT_CARD or gift_card_covers(new_balance or 0.0, total)


def valid_refund_method(method_id: str, source: str, original_method_id: str) -> bool:
    """Return: "The refund must either go to the original payment method, or an existing gift card"."""
    return method_id == original_method_id or source == GIFT_CARD


def refund_total(prices: Iterable[float]) -> float:
    """The refund for returned items: the sum of the prices they were bought for."""
    return round(sum(prices), 2)


def may_follow(earlier: Iterable[str], tool: str) -> bool:
    """Whether ``tool`` may act on an order that this conversation already changed with ``earlier``.

    Policy: "Exchange or modify order tools can only be called once per order" (so no tool
    twice), after modifying items "The agent will not be able to modify or cancel the order
    anymore", and a delivered order is returned or exchanged once. Beyond the policy, a
    cancellation, return or exchange after other changes would make them pointless, so those
    must be the order's only write in a task; address and payment changes combine freely and
    an item change may come last.
    """
    done = list(earlier)
    if not done:
        return True
    if tool in done or MODIFY_ITEMS in done:
        return False
    if tool in (CANCEL, RETURN, EXCHANGE):
        return False
    return all(t in (MODIFY_ADDRESS, MODIFY_PAYMENT) for t in done)
