"""Retail blueprints and composer: all seven retail write tools, each at two evidence burdens.

At low burden the user names the order (and the exact new variant); the reads are the ones
the policy asks for (check the order's status, look up the product's variants). At high burden
the user points at records by their properties ("my pending order with the most items", "the
cheapest available version that keeps the colour"), so a careful agent has to open every order
of the user and every product involved before the write's arguments are fixed. Targets are
only used when the property singles out exactly one record, under both readings of a request
that comes after earlier writes of the same task (see :func:`.locate.order_phrases`).

Laid out like airline: how the user points at an order is in ``locate``, item changes in
``variants``, new addresses in ``addresses``, the policy rules in ``policy``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from writ_dagster.core.language import formats
from writ_dagster.core.language.pools import pools
from writ_dagster.core.tasks.blueprints import (
    Amount,
    Blueprint,
    Call,
    ComposeContext,
    Decision,
    Identity,
    Refusal,
    Skip,
    compare,
    figure_text,
)
from writ_dagster.core.tasks.instructions import ACCEPT_REFUSAL, ACCEPT_TRANSFER, Request, combine
from writ_dagster.core.tasks.instructions import pick as pick_words
from writ_dagster.core.tasks.models import Comparison, PlanStep
from writ_dagster.core.tasks.retail import phrases as ph
from writ_dagster.core.tasks.retail import policy
from writ_dagster.core.tasks.retail.addresses import address_dict, address_text, new_address
from writ_dagster.core.tasks.retail.locate import (
    UNKNOWN_IDS,
    Pick,
    Track,
    View,
    items_text,
    locate_orders,
    order_id,
    peek,
    unique_best,
    which,
)
from writ_dagster.core.tasks.retail.pack import PACK
from writ_dagster.core.tasks.retail.variants import Change, changeable, changes, saving_leader, settle

# The pools are data: this folder's phrases.yaml.
_P = pools(__name__.rpartition(".")[0])

MAX_WRITES = 6
EVIDENCE_CAP = 12  # orders + distinct products past which a user is not favoured further

_PERSONAS: tuple[str | None, ...] = _P["personas"]
_OPENINGS: tuple[str, ...] = _P["openings"]
# What the blueprints say: the "composer" section.
_SAY = ph.SAY
_ASK: dict[str, str] = _SAY["ask"]


# -- small helpers ---------------------------------------------------------------------------
def _read_key(call: Call) -> str:
    return PlanStep(name=call[0], arguments=call[1], kind="read").key()


# -- blueprints ----------------------------------------------------------------------------------
class _RetailBlueprint:
    """Shared driver: try options in random order, keep the first with enough evidence."""

    name: str = ""
    tool: str = ""

    def options(self, v: View) -> Iterator[Decision]:
        raise NotImplementedError

    def propose(self, ctx: ComposeContext) -> Decision:
        """Propose this blueprint's write for ``ctx``, or raise :class:`Skip`."""
        v = View(ctx)
        found = False
        for decision in self.options(v):
            found = True
            if not v.high or self._evidence(ctx, v.track, decision) >= ctx.min_reads:
                self._commit(ctx, v, decision)
                return decision
        raise Skip("too little fresh evidence for a high-burden write" if found else "no legal target")

    @staticmethod
    def _evidence(ctx: ComposeContext, track: Track, d: Decision) -> int:
        """Reads the driver will count before this write: earlier ones since the last write plus new ones."""
        fresh = {_read_key(c) for c in d.reads} - ctx.done_reads
        return track.segment_reads(len(ctx.done_reads)) + len(fresh)

    def _commit(self, ctx: ComposeContext, v: View, d: Decision) -> None:
        track = v.track
        track.mark = len(ctx.done_reads | {_read_key(c) for c in d.reads})
        for target in d.targets:
            if target.startswith("orders:"):
                oid = target.split(":", 1)[1]
                track.status0.setdefault(oid, peek(ctx.db.orders, oid).status)
                track.ops.setdefault(oid, []).append(self.tool)
        # One wording per task for "no order ids"; a line the user already has adds nothing.
        if track.no_ids is None:
            track.no_ids = ctx.words.choice(ph.UNKNOWN_IDS)
        unknown = [track.no_ids if u == UNKNOWN_IDS else u for u in d.unknown]
        d.unknown = [u for u in dict.fromkeys(unknown) if u not in track.said]
        track.said.update(d.unknown)


def _decision(
    v: View,
    pick: Pick,
    write: Call,
    say: Request,
    *,
    communicate: list[str] | None = None,
    products: list[str] | None = None,
    extra_reads: list[Call] | None = None,
    amount: Amount | None = None,
) -> Decision:
    products = list(dict.fromkeys(products or []))
    reads = pick.reads + [("get_product_details", {"product_id": p}) for p in products] + (extra_reads or [])
    oid = pick.order.order_id
    return Decision(
        write=write,
        reads=reads,
        candidates=pick.candidates + len(products),
        say=say,
        unknown=pick.unknown,
        communicate=communicate or [],
        entities=[f"users:{v.user.user_id}", f"orders:{oid}"] + [f"products:{p}" for p in products],
        targets=[f"orders:{oid}"],
        comparisons=list(pick.comparisons),
        amount=amount,
    )


@dataclass
class CancelOrder(_RetailBlueprint):
    """Cancel a pending order for one of the two reasons the policy accepts."""

    name: str = "cancel_pending_order"
    tool: str = policy.CANCEL

    def options(self, v: View) -> Iterator[Decision]:
        # (pick, "") or, for the most sold-out order, (pick, the products to open)
        picks: list[tuple[Pick, str | list[str]]] = [
            (p, "") for p in locate_orders(v, policy.PENDING, self.tool, self._cancellable)
        ]
        if v.high:
            picks += self._most_sold_out(v)
            v.rng.shuffle(picks)
        for pick, products in picks:
            o = pick.order
            reason = v.rng.choice(policy.CANCEL_REASONS)
            if products:
                reason = "no longer needed"
            if not policy.can_cancel(o.status, reason):
                continue
            ask = v.rng.random() < 0.6
            w = v.ctx.words
            motive = ph.SOLD_OUT_MOTIVE if products else w.choice(ph.CANCEL_MOTIVES[reason])
            words = _SAY["cancel"]
            say = Request(
                words["action"].format(order=pick.phrase if products else which(v, pick)),
                motive,
                [],
                _ASK["refund"] if ask else "",
            )
            yield _decision(
                v,
                pick,
                (self.tool, {"order_id": o.order_id, "reason": reason}),
                say,
                communicate=[figure_text(o.payment_history[0].amount)] if ask else [],
                products=list(products),
                amount=Amount(o.payment_history[0].amount, "refund", words["amount"], words["keep"]),
            )

    @staticmethod
    def _cancellable(o: Any) -> bool:
        return len(o.payment_history) == 1  # a single payment, so the refund is that payment

    def _most_sold_out(self, v: View) -> list[tuple[Pick, list[str]]]:
        """ "The pending order with the most items now out of stock": every product must be opened."""
        contenders = [o for o in v.orders if v.status0(o) == policy.PENDING]
        if len(contenders) < 2 or any(policy.MODIFY_ITEMS in v.ops(o) for o in contenders):
            return []

        def sold_out(o: Any) -> int:
            return sum(1 for i in o.items if not v.product(i.product_id).variants[i.item_id].available)

        best = unique_best(contenders, sold_out, True)
        if (
            best is None
            or sold_out(best) == 0
            or not (
                best.status == policy.PENDING and policy.may_follow(v.ops(best), self.tool) and self._cancellable(best)
            )
        ):
            return []
        products = list(dict.fromkeys(i.product_id for o in contenders for i in o.items))
        words = _SAY["cancel"]
        phrase = words["most_sold_out"]
        how = compare(
            words["sold_out_things"],
            words["sold_out_criterion"],
            best,
            contenders,
            order_id,
            lambda o: words["sold_out_count"].format(n=sold_out(o)),
        )
        return [(Pick(best, phrase, v.all_order_reads(), len(v.orders), [UNKNOWN_IDS], comparisons=[how]), products)]


@dataclass
class ModifyOrderAddress(_RetailBlueprint):
    """Ship a pending order to a new address or to the user's default address."""

    name: str = "modify_pending_order_address"
    tool: str = policy.MODIFY_ADDRESS

    def options(self, v: View) -> Iterator[Decision]:
        default = address_dict(v.user.address)
        default_moved = not v.ctx.fresh(f"users:{v.user.user_id}")
        for pick in locate_orders(v, policy.PENDING, self.tool):
            o = pick.order
            current = address_dict(o.address)
            # The address goes in the request, not in known info: a task may ship two orders.
            words = _SAY["ship"]
            if current != default and not default_moved and v.rng.random() < 0.5:
                addr, where = default, words["default"]
            else:
                addr = new_address(v.rng, [current, default])
                where = words["new"].format(address=address_text(addr))
            w = v.ctx.words
            yield _decision(
                v,
                pick,
                (self.tool, {"order_id": o.order_id, **addr}),
                Request(words["action"].format(order=which(v, pick), where=where), w.choice(ph.SHIP_MOTIVES)),
                extra_reads=[("get_user_details", {"user_id": v.user.user_id})],
            )


@dataclass
class ModifyOrderPayment(_RetailBlueprint):
    """Pay a pending order with another of the user's methods (a gift card must cover the total)."""

    name: str = "modify_pending_order_payment"
    tool: str = policy.MODIFY_PAYMENT

    def _methods(self, v: View, o: Any) -> list[Any]:
        current = o.payment_history[0].payment_method_id
        total = o.payment_history[0].amount
        return [
            m
            for m in v.user.payment_methods.values()
            if policy.can_change_payment(
                o.status, len(o.payment_history), current, m.id, m.source, getattr(m, "balance", None), total
            )
        ]

    def options(self, v: View) -> Iterator[Decision]:
        for pick in locate_orders(v, policy.PENDING, self.tool, lambda o: bool(self._methods(v, o))):
            o = pick.order
            method = v.rng.choice(self._methods(v, o))
            ask = v.rng.random() < 0.5
            w = v.ctx.words
            yield _decision(
                v,
                pick,
                (self.tool, {"order_id": o.order_id, "payment_method_id": method.id}),
                Request(
                    _SAY["pay"]["action"].format(order=which(v, pick), method=v.method_text(method)),
                    w.choice(ph.PAY_MOTIVES),
                    [],
                    _ASK["new_charge"] if ask else "",
                ),
                communicate=[figure_text(o.payment_history[0].amount)] if ask else [],
                extra_reads=[("get_user_details", {"user_id": v.user.user_id})],
            )


class _ItemChange(_RetailBlueprint):
    """Shared by item modification (pending) and exchange (delivered): same product, other option."""

    status: str = ""
    verb: str = ""
    motives: tuple[str, ...] = ("",)

    def options(self, v: View) -> Iterator[Decision]:
        plans: list[tuple[Pick, Change | None, list[str]]] = [
            (p, None, []) for p in locate_orders(v, self.status, self.tool)
        ]
        if v.high:
            saving = self._biggest_saving(v)
            if saving is not None:
                plans.append(saving)
                v.rng.shuffle(plans)
        for pick, fixed, products in plans:
            for change in [fixed] if fixed is not None else changes(v, pick.order):
                decision = self._decide(v, pick, change, products)
                if decision is not None:
                    yield decision

    def _decide(self, v: View, pick: Pick, change: Change, products: list[str]) -> Decision | None:
        o = pick.order
        settled = settle(v, o, change)
        if settled is None:
            return None
        method, diff = settled
        w = v.ctx.words
        money = pick_words(w, ph.DIFF_PAYMENT, m=v.method_text(method))
        args = {
            "order_id": o.order_id,
            "item_ids": [i.item_id for i in change.items],
            "new_item_ids": [x.item_id for x in change.variants],
            "payment_method_id": method.id,
        }
        words = _SAY["item_change"]
        if pick.phrase:
            action = words["action"].format(verb=self.verb, order=pick.phrase, wants=words["joiner"].join(change.wants))
            motive = w.choice(self.motives)
        else:
            action, motive = change.wants[0], words["save_motive"]
        ask = bool(diff) and w.random() < 0.7
        # The settlement method belongs to this request: a task may hold two item changes.
        return _decision(
            v,
            pick,
            (self.tool, args),
            Request(action, motive, [money, *change.criteria], _ASK["difference"] if ask else ""),
            communicate=[figure_text(abs(diff))] if ask else [],
            products=products or change.compared or [i.product_id for i in change.items],
            extra_reads=[("get_user_details", {"user_id": v.user.user_id})],
            amount=(
                Amount(diff, "cost", words["cost"], words["keep"])
                if diff > 0
                else Amount(-diff, "refund", words["refund"], words["keep"])
                if diff < 0
                else None
            ),
        )

    def _biggest_saving(self, v: View) -> tuple[Pick, Change, list[str]] | None:
        """ "Switch the item where the cheapest other option saves the most" over all orders of this status."""
        found = saving_leader(v, self.status, self.tool)
        if found is None:
            return None
        o, item, cheaper, products, how = found
        variant = unique_best(cheaper, lambda x: x.price, False)
        if variant is None:
            return None
        change = Change(
            [item],
            [variant],
            [_SAY["item_change"]["biggest_saving"].format(verb=self.verb, status=self.status)],
            [x for x in (v.ctx.words.choice(ph.WHICH_ITEM), v.ctx.words.choice(ph.ONE_ITEM)) if x],
        )
        return Pick(o, "", v.all_order_reads(), len(v.orders), [UNKNOWN_IDS], comparisons=[how]), change, products


@dataclass
class ModifyOrderItems(_ItemChange):
    """Change items of a pending order to other available options (last change to that order)."""

    name: str = "modify_pending_order_items"
    tool: str = policy.MODIFY_ITEMS
    status: str = policy.PENDING
    verb: str = _SAY["item_change"]["verbs"]["modify"]
    motives: tuple[str, ...] = ph.MODIFY_MOTIVES


@dataclass
class ExchangeItems(_ItemChange):
    """Exchange delivered items for other available options of the same products."""

    name: str = "exchange_delivered_order_items"
    tool: str = policy.EXCHANGE
    status: str = policy.DELIVERED
    verb: str = _SAY["item_change"]["verbs"]["exchange"]
    motives: tuple[str, ...] = ph.EXCHANGE_MOTIVES


@dataclass
class ReturnItems(_RetailBlueprint):
    """Return some or all items of a delivered order, refunded to the original method or a gift card."""

    name: str = "return_delivered_order_items"
    tool: str = policy.RETURN

    def options(self, v: View) -> Iterator[Decision]:
        words = _SAY["return"]
        picks: list[tuple[Pick, str, list[str]]] = [(p, "", []) for p in locate_orders(v, policy.DELIVERED, self.tool)]
        if v.high:
            picks += [(p, words["priciest"], []) for p in self._priciest_item_pick(v)]
            overpaid = saving_leader(v, policy.DELIVERED, self.tool)
            if overpaid is not None:
                o, item, _, products, how = overpaid
                picks.append(
                    (
                        Pick(o, "", v.all_order_reads(), len(v.orders), [UNKNOWN_IDS], item=item, comparisons=[how]),
                        words["overpaid"],
                        products,
                    )
                )
            v.rng.shuffle(picks)
        for pick, named, products in picks:
            o = pick.order
            items = self._items(v, pick)
            original = o.payment_history[0].payment_method_id
            methods = [
                m for m in v.user.payment_methods.values() if policy.valid_refund_method(m.id, m.source, original)
            ]
            method = v.rng.choice(methods)
            where = words["original_method"] if method.id == original else v.method_text(method)
            w = v.ctx.words
            refund = policy.refund_total(i.price for i in items)
            if named:
                what = named
            elif len(items) == len(o.items):
                what = words["everything"].format(order=pick.phrase)
            else:
                what = words["some"].format(items=items_text(items), order=pick.phrase)
            ask = w.random() < 0.75
            yield _decision(
                v,
                pick,
                (
                    self.tool,
                    {"order_id": o.order_id, "item_ids": [i.item_id for i in items], "payment_method_id": method.id},
                ),
                Request(
                    words["action"].format(what=what),
                    w.choice(ph.RETURN_MOTIVES),
                    [pick_words(w, ph.REFUND_TO, m=where)],
                    _ASK["refund"] if ask else "",
                ),
                communicate=[figure_text(refund)] if ask else [],
                products=products,
                extra_reads=[("get_user_details", {"user_id": v.user.user_id})],
                amount=Amount(refund, "refund", words["amount"], words["keep"]),
            )

    def _items(self, v: View, pick: Pick) -> list[Any]:
        o = pick.order
        if pick.item is not None:
            return [pick.item]
        if len(o.items) == 1 or v.rng.random() < 0.4:
            return list(o.items)
        named = changeable(o)
        if not named:
            return list(o.items)
        k = v.rng.randint(1, min(len(named), len(o.items) - 1))
        return v.rng.sample(named, k)

    def _priciest_item_pick(self, v: View) -> list[Pick]:
        """ "Your most expensive delivered item": one item compared across every delivered order."""
        contenders = [(o, i) for o in v.orders if v.status0(o) == policy.DELIVERED for i in o.items]
        if len(contenders) < 2:
            return []
        best = unique_best(contenders, lambda oi: oi[1].price, True)
        if best is None:
            return []
        o, item = best
        if o.status != policy.DELIVERED or not policy.may_follow(v.ops(o), self.tool):
            return []
        words = _SAY["return"]
        how = compare(
            words["priciest_things"],
            words["priciest_criterion"],
            best,
            contenders,
            lambda oi: words["priciest_item"].format(item=oi[1].name, order_id=oi[0].order_id),
            lambda oi: formats.money(oi[1].price),
        )
        return [Pick(o, "", v.all_order_reads(), len(v.orders), [UNKNOWN_IDS], item=item, comparisons=[how])]


@dataclass
class ModifyUserAddress(_RetailBlueprint):
    """Change the user's default address: to a new one, or to where one of their orders went."""

    name: str = "modify_user_address"
    tool: str = policy.MODIFY_USER_ADDRESS

    def options(self, v: View) -> Iterator[Decision]:
        uid = v.user.user_id
        if not v.ctx.fresh(f"users:{uid}"):
            return
        default = address_dict(v.user.address)
        words = _SAY["user_address"]
        if not v.high:
            addr = new_address(v.rng, [default])
            yield self._decision(
                v,
                addr,
                [("get_user_details", {"user_id": uid})],
                1,
                Request(words["action"].format(address=address_text(addr)), v.ctx.words.choice(ph.MOVE_MOTIVES)),
                [],
            )
            return
        # "Make my default address the one my <product> order went to": the agent must open
        # every order to find the one holding that product and check no other does.
        holders: dict[str, list[Any]] = {}
        for o in v.orders:
            for name in dict.fromkeys(i.name for i in o.items):
                holders.setdefault(name, []).append(o)
        options = [
            (name, os[0])
            for name, os in holders.items()
            if len(os) == 1 and not v.ops(os[0]) and address_dict(os[0].address) != default
        ]
        v.rng.shuffle(options)
        for name, o in options:
            addr = address_dict(o.address)
            # (named: mypy cannot infer a lambda with default arguments passed as a one-argument callable)
            holds = lambda x, n=name, c=o: (words["holds"] if x is c else words["lacks"]).format(name=n)  # noqa: E731
            yield self._decision(
                v,
                addr,
                v.all_order_reads(),
                len(v.orders),
                Request(words["where_order_went"].format(name=name), v.ctx.words.choice(words["motives"])),
                [UNKNOWN_IDS, words["unknown"]],
                order=o.order_id,
                how=compare(words["things"], words["criterion"].format(name=name), o, v.orders, order_id, holds),
            )

    def _decision(
        self,
        v: View,
        addr: dict[str, str],
        reads: list[Call],
        candidates: int,
        say: Request,
        unknown: list[str],
        order: str | None = None,
        how: Comparison | None = None,
    ) -> Decision:
        uid = v.user.user_id
        return Decision(
            write=(self.tool, {"user_id": uid, **addr}),
            reads=reads,
            candidates=candidates,
            say=say,
            unknown=unknown,
            entities=[f"users:{uid}"] + ([f"orders:{order}"] if order else []),
            targets=[f"users:{uid}"],
            comparisons=[how] if how is not None else [],
        )


# -- refused requests ------------------------------------------------------------------------------
def _untouched_orders(ctx: ComposeContext, statuses: tuple[str, ...]) -> list[Any]:
    user = peek(ctx.db.users, ctx.user_id)
    orders = [peek(ctx.db.orders, oid) for oid in user.orders]
    return sorted(
        (o for o in orders if o.status in statuses and ctx.fresh(f"orders:{o.order_id}")), key=lambda o: o.order_id
    )


@dataclass
class RefuseCancelNotPending:
    """Cancel an order that is no longer pending: "An order can only be cancelled if its status is 'pending'"."""

    name: str = "refuse_cancel_not_pending"

    def refuse(self, ctx: ComposeContext) -> Refusal:
        orders = _untouched_orders(ctx, ("processed", "delivered"))
        if not orders:
            raise Skip("no processed or delivered order")
        o = ctx.rng.choice(orders)
        w = ctx.words
        words = _SAY["refuse_cancel_not_pending"]
        reason = words["reason"].format(status=o.status) + (words["delivered"] if o.status == policy.DELIVERED else "")
        action = words["action"].format(order_id=o.order_id)
        return Refusal(
            reads=[("get_order_details", {"order_id": o.order_id})],
            say=Request(action, w.choice(ph.CANCEL_MOTIVES["no longer needed"])),
            action=action,
            reason=reason,
            entities=[f"orders:{o.order_id}"],
            targets=[f"orders:{o.order_id}"],
            behaviour=[w.choice(ACCEPT_REFUSAL)],
        )


@dataclass
class RefuseReturnNotDelivered:
    """Return items of an order not yet delivered: "An order can only be returned if its status is 'delivered'"."""

    name: str = "refuse_return_not_delivered"

    def refuse(self, ctx: ComposeContext) -> Refusal:
        orders = _untouched_orders(ctx, (policy.PENDING, "processed"))
        if not orders:
            raise Skip("no pending or processed order")
        o = ctx.rng.choice(orders)
        item = ctx.rng.choice(list(o.items))
        w = ctx.words
        words = _SAY["refuse_return_not_delivered"]
        reason = words["reason"].format(status=o.status) + (words["pending"] if o.status == policy.PENDING else "")
        return Refusal(
            reads=[("get_order_details", {"order_id": o.order_id})],
            say=Request(words["ask"].format(item=item.name, order_id=o.order_id), w.choice(words["motives"])),
            action=words["action"].format(order_id=o.order_id),
            reason=reason,
            entities=[f"orders:{o.order_id}"],
            targets=[f"orders:{o.order_id}"],
            behaviour=[w.choice(ACCEPT_REFUSAL)],
        )


@dataclass
class TransferReinstateCancelled:
    """Reinstate a cancelled order: no tool can, so "the request cannot be handled within the scope of
    your actions" and the policy sends the user to a human agent."""

    name: str = "transfer_reinstate_cancelled"

    def refuse(self, ctx: ComposeContext) -> Refusal:
        orders = _untouched_orders(ctx, ("cancelled",))
        if not orders:
            raise Skip("no cancelled order")
        o = ctx.rng.choice(orders)
        w = ctx.words
        words = _SAY["transfer_reinstate_cancelled"]
        return Refusal(
            reads=[("get_order_details", {"order_id": o.order_id})],
            say=Request(
                words["ask"].format(order_id=o.order_id),
                w.choice(ph.REINSTATE_MOTIVES),
                [w.choice(ph.REINSTATE_DETAILS)],
            ),
            action=words["action"].format(order_id=o.order_id),
            reason=words["reason"],
            entities=[f"orders:{o.order_id}"],
            targets=[f"orders:{o.order_id}"],
            behaviour=[w.choice(ACCEPT_TRANSFER)],
            transfer=True,
        )


@dataclass
class AskTrackingNumber:
    """The tracking number of a shipped order: read from its fulfilments (no write)."""

    name: str = "ask_tracking_number"

    def refuse(self, ctx: ComposeContext) -> Refusal:
        orders = [
            o
            for o in _untouched_orders(ctx, ("processed", "delivered"))
            if len({t for f in o.fulfillments for t in f.tracking_id}) == 1
        ]
        if not orders:
            raise Skip("no shipped order with one tracking number")
        o = ctx.rng.choice(orders)
        [tracking] = {t for f in o.fulfillments for t in f.tracking_id}
        w = ctx.words
        words = _SAY["ask_tracking_number"]
        return Refusal(
            reads=[("get_order_details", {"order_id": o.order_id})],
            say=Request(words["ask"].format(order_id=o.order_id), w.choice(ph.TRACK_MOTIVES)),
            action=words["action"].format(order_id=o.order_id),
            reason="",
            entities=[f"orders:{o.order_id}"],
            targets=[f"orders:{o.order_id}"],
            answer=words["answer"].format(order_id=o.order_id, tracking=tracking),
            communicate=[tracking],
        )


# -- the composer ----------------------------------------------------------------------------------
@dataclass
class RetailComposer:
    """Composes retail tasks: picks a user with orders to act on and chains the blueprints."""

    domain: str = "retail"
    max_writes: int = MAX_WRITES
    blueprints: list[Blueprint] = field(
        default_factory=lambda: [
            CancelOrder(),
            ModifyOrderAddress(),
            ModifyOrderPayment(),
            ModifyOrderItems(),
            ExchangeItems(),
            ReturnItems(),
            ModifyUserAddress(),
        ]
    )
    refusals: list[Any] = field(default_factory=lambda: [RefuseCancelNotPending(), RefuseReturnNotDelivered()])
    transfers: list[Any] = field(default_factory=lambda: [TransferReinstateCancelled()])
    questions: list[Any] = field(default_factory=lambda: [AskTrackingNumber()])

    @property
    def conditionals(self) -> list[Blueprint]:
        """Writes that move money a user may set a limit on ("only if the refund is at least $50")."""
        return [
            bp for bp in self.blueprints if isinstance(bp, (CancelOrder, ModifyOrderItems, ExchangeItems, ReturnItems))
        ]

    @property
    def switchable(self) -> list[Any]:
        """What a change of mind draws from: the writes on one existing order (not the default address)."""
        return [bp for bp in self.blueprints if bp.name in PACK.take_back]

    def pick_user(self, db: Any, rng: random.Random) -> str:
        """A user weighted by how much evidence and how many writes a task can find with them.

        Evidence is orders plus distinct products (what a high-burden write compares); room
        is the writes the policy allows (up to three on a pending order, one on a delivered
        order, one on the default address), so long write-intensive tasks rarely run out of
        targets. Users with no pending or delivered order are left out.
        """
        users: list[str] = []
        weights: list[int] = []
        for uid, user in db.users.items():
            orders = [peek(db.orders, oid) for oid in user.orders]
            statuses = [o.status for o in orders]
            pending, delivered = statuses.count(policy.PENDING), statuses.count(policy.DELIVERED)
            if pending or delivered:
                room = pending * (2 + (len(user.payment_methods) > 1)) + delivered + 1
                evidence = len(orders) + len({i.product_id for o in orders for i in o.items})
                # Both saturate: past that, a bigger user adds nothing but repetition.
                users.append(uid)
                weights.append(min(evidence, EVIDENCE_CAP) ** 2 * min(room, self.max_writes) ** 2)
        if not users:
            raise ValueError("no retail user has a pending or delivered order")
        return rng.choices(users, weights)[0]

    def identify(self, db: Any, user_id: str, rng: random.Random, words: random.Random) -> Identity:
        """Authenticate by email or by name and zip (the latter only where it finds this user first)."""
        user = peek(db.users, user_id)
        first, last, zip_code = user.name.first_name, user.name.last_name, user.address.zip
        clash = any(
            u.name.first_name.lower() == first.lower()
            and u.name.last_name.lower() == last.lower()
            and u.address.zip == zip_code
            and uid != user_id
            for uid, u in db.users.items()
        )
        name = f"{first} {last}"
        if clash or rng.random() < 0.5:
            find: Call = ("find_user_id_by_email", {"email": user.email})
            knows = {"email": user.email}
            known = [
                combine(
                    words,
                    pick_words(words, ph.NAME_CLAUSES, name=name),
                    pick_words(words, ph.EMAIL_CLAUSES, email=user.email),
                )
            ]
        else:
            find = ("find_user_id_by_name_zip", {"first_name": first, "last_name": last, "zip": zip_code})
            knows = {"first_name": first, "last_name": last, "zip": zip_code}
            # The forgotten email stays on the identity line: it is what the user says when asked.
            known = [
                combine(
                    words,
                    pick_words(words, ph.NAME_CLAUSES, name=name),
                    _SAY["zip_but_no_email"].format(
                        clause=pick_words(words, ph.ZIP_CLAUSES, zip=zip_code), no_email=words.choice(ph.NO_EMAIL)
                    ),
                )
            ]
        return Identity(
            reads=[find, ("get_user_details", {"user_id": user_id})],
            known=known,
            opening=rng.choice(_OPENINGS),
            name=name,
            knows=knows,
        )

    def persona(self, db: Any, user_id: str, rng: random.Random) -> str | None:
        """One of a few conversational styles, or none."""
        return rng.choice(_PERSONAS)


def build_composer() -> RetailComposer:
    """The retail composer the synthesis driver uses."""
    return RetailComposer()
