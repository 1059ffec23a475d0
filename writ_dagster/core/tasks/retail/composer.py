"""Retail blueprints and composer: all seven retail write tools, each at two evidence burdens.

At low burden the user names the order (and the exact new variant); the reads are the ones
the policy asks for (check the order's status, look up the product's variants). At high burden
the user points at records by their properties ("my pending order with the most items", "the
cheapest available version that keeps the colour"), so a careful agent has to open every order
of the user and every product involved before the write's arguments are fixed. Targets are
only used when the property singles out exactly one record, under both readings of a request
that comes after earlier writes of the same task (see :func:`_order_phrases`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from writ_dagster.core.tasks.blueprints import (
    Blueprint,
    Call,
    ComposeContext,
    Decision,
    Identity,
    Skip,
)
from writ_dagster.core.tasks.models import PlanStep
from writ_dagster.core.tasks.retail import policy

MAX_WRITES = 6
DEFER_FINAL = 0.5
EVIDENCE_CAP = 12  # orders + distinct products past which a user is not favoured further
UNKNOWN_IDS = "You do not remember your order ids."

# New addresses a user may move to or ship to: street names and (city, state, zip) triples.
_STREETS = ("Maple Avenue", "Cedar Lane", "Harbor Road", "Willow Street", "Sunset Boulevard",
            "Lakeview Drive", "Pine Court", "Elm Street", "Highland Avenue", "River Road",
            "Chestnut Street", "Park Place", "Oak Ridge Drive", "Meadow Lane", "Broad Street")
_CITIES = (("Portland", "OR", "97205"), ("Austin", "TX", "78704"), ("Denver", "CO", "80203"),
           ("Madison", "WI", "53703"), ("Raleigh", "NC", "27601"), ("Tucson", "AZ", "85701"),
           ("Boise", "ID", "83702"), ("Albany", "NY", "12207"), ("Savannah", "GA", "31401"),
           ("Burlington", "VT", "05401"), ("Omaha", "NE", "68102"), ("Spokane", "WA", "99201"))

_PERSONAS = (
    None, None,
    "You are polite but brief, and you answer only what you are asked.",
    "You are a busy professional who wants things done quickly and dislikes small talk.",
    "You are friendly and chatty, and you like to double-check details before agreeing.",
    "You are a careful, detail-oriented person who wants every change confirmed one by one.",
    "You are a little impatient and prefer short, direct answers.",
    "You are not very comfortable with technology and ask the agent to explain things simply.",
)
_OPENINGS = (
    "Hi, I need some help with my orders.",
    "Hello! I'd like to make a few changes to my account and orders.",
    "Hi there, I have a couple of things to sort out with my purchases.",
    "Hey, can you help me with some orders I placed?",
)


# -- small helpers ---------------------------------------------------------------------------
def _money(x: float) -> str:
    """A dollar figure as the evaluator matches it: no trailing zeros, so "$12.50" and "$12.5" both hit."""
    return f"{round(x, 2):.2f}".rstrip("0").rstrip(".")


def _peek(table: Any, key: str) -> Any:
    """A record without the private copy a fork's keyed lookup makes; read-only use only.

    Composing compares many records, and copying each one on every look would cost more than
    the rest of composing together. Plain dicts (an unforked DB) are read directly.
    """
    current = getattr(table, "current", None)
    return current(key) if current is not None else table[key]


def _options_text(options: dict[str, str]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in options.items())


def _read_key(call: Call) -> str:
    return PlanStep(name=call[0], arguments=call[1], kind="read").key()


def _address_text(a: dict[str, str]) -> str:
    line2 = f", {a['address2']}" if a["address2"] else ""
    return f"{a['address1']}{line2}, {a['city']}, {a['state']} {a['zip']}, {a['country']}"


def _address_dict(address: Any) -> dict[str, str]:
    return {k: getattr(address, k) for k in ("address1", "address2", "city", "state", "country", "zip")}


def _new_address(rng: random.Random, avoid: list[dict[str, str]]) -> dict[str, str]:
    """A plausible US address that differs from every address in ``avoid``."""
    while True:
        city, state, zip_code = rng.choice(_CITIES)
        unit = rng.choice(("", "", f"Apt {rng.randint(1, 40)}", f"Suite {rng.randint(100, 999)}"))
        addr = {"address1": f"{rng.randint(10, 9999)} {rng.choice(_STREETS)}", "address2": unit,
                "city": city, "state": state, "country": "USA", "zip": zip_code}
        if addr not in avoid:
            return addr


def _unique_best(records: list[Any], key: Callable[[Any], float], highest: bool) -> Any | None:
    """The single record with the highest (lowest) key; None when that best value is shared."""
    if not records:
        return None
    scored = [(round(key(r), 2), r) for r in records]
    best = max(s for s, _ in scored) if highest else min(s for s, _ in scored)
    winners = [r for s, r in scored if s == best]
    return winners[0] if len(winners) == 1 else None


def _order_total(order: Any) -> float:
    return sum(i.price for i in order.items)


def _describe_method(method: Any, methods: dict[str, Any]) -> str:
    """How the user names a payment method; the id is added only where the words are ambiguous."""
    def words(m: Any) -> str:
        if m.source == "credit_card":
            return f"your {m.brand.title()} credit card ending in {m.last_four}"
        if m.source == "paypal":
            return "your PayPal account"
        return "your gift card"

    text = words(method)
    if sum(1 for m in methods.values() if words(m) == text) > 1:
        text += f" ({method.id})"
    return text


# -- per-task state ------------------------------------------------------------------------------
@dataclass
class _Track:
    """What this composer remembers across the decisions of one task (kept in ``ctx.state``)."""

    mark: int | None = None  # len(ctx.done_reads) right after the previous decision's reads
    ops: dict[str, list[str]] = field(default_factory=dict)  # order id -> write tools used on it
    status0: dict[str, str] = field(default_factory=dict)  # order id -> status before this task's first write
    said: set[str] = field(default_factory=set)  # unknown-info and criteria lines already given

    def segment_reads(self, done: int) -> int:
        """Reads made since the previous write (identification counts toward the first)."""
        return done - (self.mark or 0)


def _track(ctx: ComposeContext) -> _Track:
    return ctx.state.setdefault("retail", _Track())


class _View:
    """The user's records as the fork has them now, plus the task's memory of its own writes."""

    def __init__(self, ctx: ComposeContext) -> None:
        self.ctx = ctx
        self.rng = ctx.rng
        self.high = ctx.burden == "high"
        self.user = _peek(ctx.db.users, ctx.user_id)
        self.orders = [_peek(ctx.db.orders, oid) for oid in self.user.orders]
        self.track = _track(ctx)

    def product(self, product_id: str) -> Any:
        return _peek(self.ctx.db.products, product_id)

    def ops(self, order: Any) -> list[str]:
        return self.track.ops.get(order.order_id, [])

    def status0(self, order: Any) -> str:
        """The status the user thinks of: the one the order had before this task changed it."""
        return self.track.status0.get(order.order_id, order.status)

    def method_text(self, method: Any) -> str:
        return _describe_method(method, self.user.payment_methods)

    def all_order_reads(self) -> list[Call]:
        """What a careful agent reads to compare the user's orders: the profile and every order."""
        return [("get_user_details", {"user_id": self.user.user_id})] + [
            ("get_order_details", {"order_id": o.order_id}) for o in self.orders]


@dataclass
class _Pick:
    """An order the write acts on and how the user points at it."""

    order: Any
    phrase: str
    reads: list[Call]
    candidates: int
    unknown: list[str]
    item: Any = None  # set when the user points at one item and the order follows from it


def _order_phrases(v: _View, contenders: list[Any], noun: str) -> list[tuple[str, Any]]:
    """Property phrases that single out one of ``contenders`` (orders the user counts as ``noun``).

    Contenders include orders this task already changed, judged by their status before the
    change, so "the pending order with the most items" means the same order whether the agent
    reads it before or after the earlier writes. Totals and prices are left out once any
    contender had its items changed (the prices it shows are no longer what was paid).
    """
    out: list[tuple[str, Any]] = []
    if len(contenders) == 1:
        out.append((f"your only {noun}", contenders[0]))
    else:
        for phrase, key, highest in (("with the most items", lambda o: len(o.items), True),
                                     ("with the fewest items", lambda o: len(o.items), False)):
            best = _unique_best(contenders, key, highest)
            if best is not None:
                out.append((f"your {noun} {phrase}", best))
        if not any(policy.MODIFY_ITEMS in v.ops(o) for o in contenders):
            for phrase, key, highest in (
                    ("with the highest total", _order_total, True),
                    ("with the lowest total", _order_total, False),
                    ("that contains the most expensive single item of them all",
                     lambda o: max(i.price for i in o.items), True)):
                best = _unique_best(contenders, key, highest)
                if best is not None:
                    out.append((f"your {noun} {phrase}", best))
        sizes = [len(o.items) for o in contenders]
        for o in contenders:
            n = len(o.items)
            if sizes.count(n) == 1 and n not in (max(sizes), min(sizes)):
                out.append((f"your {noun} with exactly {n} items", o))
    holders: dict[str, list[Any]] = {}
    for o in contenders:
        for name in dict.fromkeys(i.name for i in o.items):
            holders.setdefault(name, []).append(o)
    for name, orders in holders.items():
        if len(orders) == 1:
            out.append((f"your {noun} that contains a {name}", orders[0]))
    return out


def _locate(v: _View, status: str, tool: str, ok: Callable[[Any], bool] = lambda o: True) -> list[_Pick]:
    """Every (order, phrase) the write may act on, in random order; empty when none is legal."""
    def legal(o: Any) -> bool:
        return o.status == status and policy.may_follow(v.ops(o), tool) and ok(o)

    picks: list[_Pick] = []
    if not v.high:
        for o in v.orders:
            if legal(o):
                picks.append(_Pick(o, f"order {o.order_id}", [("get_order_details", {"order_id": o.order_id})], 1, []))
    else:
        noun = f"{status} order"
        contenders = [o for o in v.orders if v.status0(o) == status]
        reads = v.all_order_reads()
        for phrase, o in _order_phrases(v, contenders, noun):
            if legal(o):
                picks.append(_Pick(o, phrase, reads, len(v.orders), [UNKNOWN_IDS]))
    if tool in (policy.CANCEL, policy.MODIFY_ITEMS) and v.rng.random() < DEFER_FINAL:
        # A cancellation or item change closes the order to further changes; half the time,
        # leave orders that could still take an address or payment change for those, so long
        # tasks do not run out of targets.
        picks = [p for p in picks if not policy.may_follow(v.ops(p.order), policy.MODIFY_ADDRESS)]
    v.rng.shuffle(picks)
    return picks


def _which(v: _View, pick: _Pick) -> str:
    """The user's words for the picked order: its id and contents at low burden, the property at high."""
    return pick.phrase if v.high else f"{pick.phrase} (with the {_items_text(pick.order.items)})"


def _items_text(items: list[Any]) -> str:
    names = [i.name for i in items]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# -- variant choice for item changes -----------------------------------------------------------
def _alternatives(product: Any, item: Any) -> list[Any]:
    return [x for x in product.variants.values()
            if policy.valid_item_change(item.product_id, item.item_id, product.product_id, x.item_id, x.available)]


def _variant_rules(product: Any, item: Any) -> list[tuple[str, str, Any]]:
    """(rule id, the user's words, chosen variant) for every rule that picks exactly one variant."""
    alts = _alternatives(product, item)
    out: list[tuple[str, str, Any]] = []
    for rule, words, highest in (("cheapest", "the cheapest available option of it", False),
                                 ("priciest", "the most expensive available option of it", True)):
        best = _unique_best(alts, lambda x: x.price, highest)
        if best is not None:
            out.append((rule, words, best))
    for opt, value in item.options.items():
        same = [x for x in alts if x.options.get(opt) == value]
        best = _unique_best(same, lambda x: x.price, False)
        if best is not None and len(same) > 1:
            out.append((f"keep:{opt}", f"the cheapest available option that keeps the same {opt} ({value})", best))
        only = [x for x in alts if x.options.get(opt) != value
                and all(x.options.get(k) == w for k, w in item.options.items() if k != opt)]
        if len(only) == 1:
            out.append((f"only:{opt}", f"the available option with a different {opt} and everything else the same",
                        only[0]))
        elif len(only) > 1:
            best = _unique_best(only, lambda x: x.price, False)
            if best is not None:
                out.append((f"only:{opt}", (f"an available option with a different {opt} and everything else the "
                                           f"same (the cheapest one if there are several)"), best))
    return out


def _changeable(order: Any) -> list[Any]:
    """Items of ``order`` the user can name unambiguously (their product occurs once in it)."""
    counts: dict[str, int] = {}
    for i in order.items:
        counts[i.product_id] = counts.get(i.product_id, 0) + 1
    return [i for i in order.items if counts[i.product_id] == 1]


@dataclass
class _Change:
    """Chosen item swaps in one order and how the user asks for them."""

    items: list[Any]
    variants: list[Any]
    wants: list[str]
    criteria: list[str]
    compared: list[str] = field(default_factory=list)  # products checked beyond the changed items'


def _changes(v: _View, order: Any) -> list[_Change]:
    """Ways to change items of ``order`` into other variants, in the order to try them.

    Low burden: one random swap (or two) that the user spells out option by option. High
    burden: the user states a rule per item ("the cheapest available option that keeps the
    colour"), for one item or, when one rule decides each of them, for every item at once.
    """
    items = [i for i in _changeable(order) if _alternatives(v.product(i.product_id), i)]
    if not items:
        return []
    if not v.high:
        k = 2 if len(items) > 1 and v.rng.random() < 0.3 else 1
        chosen = v.rng.sample(items, k)
        variants = [v.rng.choice(_alternatives(v.product(i.product_id), i)) for i in chosen]
        wants = [f"the {i.name} ({_options_text(i.options)}) to be changed to the option with "
                 f"{_options_text(x.options)}" for i, x in zip(chosen, variants)]
        return [_Change(chosen, variants, wants, [])]
    rules = {i.item_id: _variant_rules(v.product(i.product_id), i) for i in items}
    out: list[_Change] = []
    for item in items:
        if rules[item.item_id]:
            _, words, variant = v.rng.choice(rules[item.item_id])
            out.append(_Change([item], [variant], [f"the {item.name} changed to {words}"],
                               [f"For the {item.name} you want {words}; you do not mind the other options."]))
    if len(items) == len(order.items) > 1:
        for rule, words in (("cheapest", "the cheapest available option"),
                            ("priciest", "the most expensive available option")):
            picked = [next((x for r, _, x in rules[i.item_id] if r == rule), None) for i in items]
            if all(x is not None for x in picked):
                out.append(_Change(items, picked, [f"every item in it changed to {words} of the same product"],
                                   [(f"For each item you want {words} of the same product; other options do "
                                    f"not matter to you.")]))
    if len(order.items) > 1 and len(_changeable(order)) == len(order.items):
        # "Downgrade whatever can be had cheaper": every product in the order must be checked.
        swaps = []
        for i in order.items:
            cheaper = [x for x in _alternatives(v.product(i.product_id), i) if x.price < i.price]
            best = _unique_best(cheaper, lambda x: x.price, False)
            if cheaper and best is None:
                swaps = []
                break
            if best is not None:
                swaps.append((i, best))
        if swaps:
            out.append(_Change([i for i, _ in swaps], [x for _, x in swaps], [
                ("every item in it that is available in a cheaper option switched to the cheapest available option "
                "of the same product (items with no cheaper option stay as they are)")],
                ["You want to save money; other options of the items do not matter to you."],
                compared=[i.product_id for i in order.items]))
    v.rng.shuffle(out)
    return out


def _settle(v: _View, order: Any, change: _Change) -> tuple[Any, float] | None:
    """A payment method that may settle the price difference, and the difference."""
    pairs = [(i.price, x.price) for i, x in zip(change.items, change.variants)]
    diff = policy.price_difference(pairs)
    raw = sum(new - old for old, new in pairs)  # the modify tool checks the unrounded sum
    methods = [m for m in v.user.payment_methods.values()
               if policy.can_settle_difference(m.source, getattr(m, "balance", None), max(diff, raw))]
    if not methods:
        return None
    original = order.payment_history[0].payment_method_id
    # Most users settle with the method the order was paid with; sometimes they pick another.
    preferred = [m for m in methods if m.id == original]
    method = preferred[0] if preferred and v.rng.random() < 0.6 else v.rng.choice(methods)
    return method, diff


def _saving_leader(v: _View, status: str, tool: str) -> tuple[Any, Any, list[Any], list[str]] | None:
    """The one item, over all the user's orders of ``status``, whose cheapest available other
    option is cheaper than what was paid by the most: (order, item, its cheaper options, every
    product compared). A careful agent opens every such order and every product in them.
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
            cheaper = [x for x in _alternatives(v.product(i.product_id), i) if x.price < i.price]
            if cheaper:
                savings.append((o, i, i.price - min(x.price for x in cheaper), cheaper))
    best = _unique_best(savings, lambda sv: sv[2], True)
    if best is None or len(savings) < 2:
        return None
    o, item, _, cheaper = best
    if o.status != status or not policy.may_follow(v.ops(o), tool) or item not in _changeable(o):
        return None
    return o, item, cheaper, list(dict.fromkeys(products))


# -- blueprints ----------------------------------------------------------------------------------
class _RetailBlueprint:
    """Shared driver: try options in random order, keep the first with enough evidence."""

    name: str = ""
    tool: str = ""

    def options(self, v: _View) -> Iterator[Decision]:
        raise NotImplementedError

    def propose(self, ctx: ComposeContext) -> Decision:
        """Propose this blueprint's write for ``ctx``, or raise :class:`Skip`."""
        v = _View(ctx)
        found = False
        for decision in self.options(v):
            found = True
            if not v.high or self._evidence(ctx, v.track, decision) >= ctx.min_reads:
                self._commit(ctx, v, decision)
                return decision
        raise Skip("too little fresh evidence for a high-burden write" if found else "no legal target")

    @staticmethod
    def _evidence(ctx: ComposeContext, track: _Track, d: Decision) -> int:
        """Reads the driver will count before this write: earlier ones since the last write plus new ones."""
        fresh = {_read_key(c) for c in d.reads} - ctx.done_reads
        return track.segment_reads(len(ctx.done_reads)) + len(fresh)

    def _commit(self, ctx: ComposeContext, v: _View, d: Decision) -> None:
        track = v.track
        track.mark = len(ctx.done_reads | {_read_key(c) for c in d.reads})
        for target in d.targets:
            if target.startswith("orders:"):
                oid = target.split(":", 1)[1]
                track.status0.setdefault(oid, _peek(ctx.db.orders, oid).status)
                track.ops.setdefault(oid, []).append(self.tool)
        # The driver joins every decision's lines; a line the user already has adds nothing.
        d.unknown = [u for u in dict.fromkeys(d.unknown) if u not in track.said]
        d.criteria = [c for c in dict.fromkeys(d.criteria) if c not in track.said]
        track.said.update(d.unknown, d.criteria)


def _decision(v: _View, pick: _Pick, write: Call, request: str, *, known: list[str] | None = None,
              criteria: list[str] | None = None, communicate: list[str] | None = None,
              products: list[str] | None = None, extra_reads: list[Call] | None = None) -> Decision:
    products = list(dict.fromkeys(products or []))
    reads = pick.reads + [("get_product_details", {"product_id": p}) for p in products] + (extra_reads or [])
    oid = pick.order.order_id
    return Decision(
        write=write, reads=reads, candidates=pick.candidates + len(products),
        request=request, known=known or [], unknown=pick.unknown, criteria=criteria or [],
        communicate=communicate or [],
        entities=[f"users:{v.user.user_id}", f"orders:{oid}"] + [f"products:{p}" for p in products],
        targets=[f"orders:{oid}"],
    )


@dataclass
class CancelOrder(_RetailBlueprint):
    """Cancel a pending order for one of the two reasons the policy accepts."""

    name: str = "cancel_pending_order"
    tool: str = policy.CANCEL

    def options(self, v: _View) -> Iterator[Decision]:
        picks = [(p, "") for p in _locate(v, policy.PENDING, self.tool, self._cancellable)]
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
            why = "you no longer need it" if reason == "no longer needed" else "you ordered it by mistake"
            ask = v.rng.random() < 0.6
            request = f"You want to cancel {_which(v, pick)} because {why}."
            if products:
                request = ("You heard that some things you ordered are sold out now, which may hold up "
                           f"delivery. You want to cancel {pick.phrase}; you no longer need it.")
            yield _decision(
                v, pick, (self.tool, {"order_id": o.order_id, "reason": reason}), request,
                criteria=["Before confirming a cancellation, ask how much will be refunded."] if ask else [],
                communicate=[_money(o.payment_history[0].amount)] if ask else [],
                products=list(products),
            )

    @staticmethod
    def _cancellable(o: Any) -> bool:
        return len(o.payment_history) == 1  # a single payment, so the refund is that payment

    def _most_sold_out(self, v: _View) -> list[tuple[_Pick, list[str]]]:
        """"The pending order with the most items now out of stock": every product must be opened."""
        contenders = [o for o in v.orders if v.status0(o) == policy.PENDING]
        if len(contenders) < 2 or any(policy.MODIFY_ITEMS in v.ops(o) for o in contenders):
            return []

        def sold_out(o: Any) -> int:
            return sum(1 for i in o.items if not v.product(i.product_id).variants[i.item_id].available)

        best = _unique_best(contenders, sold_out, True)
        if best is None or sold_out(best) == 0 or not (
                best.status == policy.PENDING and policy.may_follow(v.ops(best), self.tool) and self._cancellable(best)):
            return []
        products = list(dict.fromkeys(i.product_id for o in contenders for i in o.items))
        phrase = "your pending order with the most items that are out of stock (in the exact option you ordered)"
        return [(_Pick(best, phrase, v.all_order_reads(), len(v.orders), [UNKNOWN_IDS]), products)]


@dataclass
class ModifyOrderAddress(_RetailBlueprint):
    """Ship a pending order to a new address or to the user's default address."""

    name: str = "modify_pending_order_address"
    tool: str = policy.MODIFY_ADDRESS

    def options(self, v: _View) -> Iterator[Decision]:
        default = _address_dict(v.user.address)
        default_moved = not v.ctx.fresh(f"users:{v.user.user_id}")
        for pick in _locate(v, policy.PENDING, self.tool):
            o = pick.order
            current = _address_dict(o.address)
            # The address goes in the request, not in known info: a task may ship two orders.
            if current != default and not default_moved and v.rng.random() < 0.5:
                addr, where = default, "your default address on file (you do not remember it word for word)"
            else:
                addr = _new_address(v.rng, [current, default])
                where = f"this new address: {_address_text(addr)}"
            yield _decision(v, pick, (self.tool, {"order_id": o.order_id, **addr}),
                            f"You want {_which(v, pick)} shipped to {where} instead.",
                            extra_reads=[("get_user_details", {"user_id": v.user.user_id})])


@dataclass
class ModifyOrderPayment(_RetailBlueprint):
    """Pay a pending order with another of the user's methods (a gift card must cover the total)."""

    name: str = "modify_pending_order_payment"
    tool: str = policy.MODIFY_PAYMENT

    def _methods(self, v: _View, o: Any) -> list[Any]:
        current = o.payment_history[0].payment_method_id
        total = o.payment_history[0].amount
        return [m for m in v.user.payment_methods.values()
                if policy.can_change_payment(o.status, len(o.payment_history), current, m.id, m.source,
                                             getattr(m, "balance", None), total)]

    def options(self, v: _View) -> Iterator[Decision]:
        for pick in _locate(v, policy.PENDING, self.tool, lambda o: bool(self._methods(v, o))):
            o = pick.order
            method = v.rng.choice(self._methods(v, o))
            ask = v.rng.random() < 0.5
            yield _decision(
                v, pick, (self.tool, {"order_id": o.order_id, "payment_method_id": method.id}),
                f"You want to pay for {_which(v, pick)} with {v.method_text(method)} "
                f"instead of the payment method used now.",
                criteria=["Before confirming, ask how much will be charged to the new payment method."] if ask else [],
                communicate=[_money(o.payment_history[0].amount)] if ask else [],
                extra_reads=[("get_user_details", {"user_id": v.user.user_id})],
            )


class _ItemChange(_RetailBlueprint):
    """Shared by item modification (pending) and exchange (delivered): same product, other option."""

    status: str = ""
    verb: str = ""

    def options(self, v: _View) -> Iterator[Decision]:
        plans: list[tuple[_Pick, _Change | None, list[str]]] = [(p, None, []) for p in _locate(v, self.status, self.tool)]
        if v.high:
            saving = self._biggest_saving(v)
            if saving is not None:
                plans.append(saving)
                v.rng.shuffle(plans)
        for pick, fixed, products in plans:
            for change in [fixed] if fixed is not None else _changes(v, pick.order):
                decision = self._decide(v, pick, change, products)
                if decision is not None:
                    yield decision

    def _decide(self, v: _View, pick: _Pick, change: _Change, products: list[str]) -> Decision | None:
        o = pick.order
        settled = _settle(v, o, change)
        if settled is None:
            return None
        method, diff = settled
        money = f"Any price difference is to be paid with, or refunded to, {v.method_text(method)}."
        args = {"order_id": o.order_id, "item_ids": [i.item_id for i in change.items],
                "new_item_ids": [x.item_id for x in change.variants], "payment_method_id": method.id}
        if pick.phrase:
            request = f"You want to {self.verb} items of {pick.phrase}: you want " + "; and ".join(change.wants) + "."
        else:
            request = change.wants[0]
        # The settlement method belongs to this request: a task may hold two item changes.
        return _decision(
            v, pick, (self.tool, args), f"{request} {money}",
            criteria=change.criteria + (["Before confirming, ask how much the price difference is."] if diff else []),
            communicate=[_money(abs(diff))] if diff else [],
            products=products or change.compared or [i.product_id for i in change.items],
            extra_reads=[("get_user_details", {"user_id": v.user.user_id})],
        )

    def _biggest_saving(self, v: _View) -> tuple[_Pick, _Change, list[str]] | None:
        """"Switch the item where the cheapest other option saves the most" over all orders of this status."""
        found = _saving_leader(v, self.status, self.tool)
        if found is None:
            return None
        o, item, cheaper, products = found
        variant = _unique_best(cheaper, lambda x: x.price, False)
        if variant is None:
            return None
        change = _Change([item], [variant], [
            (f"You want to save money: among all the items in your {self.status} orders, you want to {self.verb} "
            f"the one where switching to the cheapest available option of the same product saves the most, and "
            f"switch it to that cheapest option.")],
            ["You do not know which item that is; let the agent work it out. Only that one item should change."])
        return _Pick(o, "", v.all_order_reads(), len(v.orders), [UNKNOWN_IDS]), change, products


@dataclass
class ModifyOrderItems(_ItemChange):
    """Change items of a pending order to other available options (last change to that order)."""

    name: str = "modify_pending_order_items"
    tool: str = policy.MODIFY_ITEMS
    status: str = policy.PENDING
    verb: str = "modify"


@dataclass
class ExchangeItems(_ItemChange):
    """Exchange delivered items for other available options of the same products."""

    name: str = "exchange_delivered_order_items"
    tool: str = policy.EXCHANGE
    status: str = policy.DELIVERED
    verb: str = "exchange"


@dataclass
class ReturnItems(_RetailBlueprint):
    """Return some or all items of a delivered order, refunded to the original method or a gift card."""

    name: str = "return_delivered_order_items"
    tool: str = policy.RETURN

    def options(self, v: _View) -> Iterator[Decision]:
        picks = [(p, "", []) for p in _locate(v, policy.DELIVERED, self.tool)]
        if v.high:
            picks += [(p, ("the most expensive item among all your delivered orders (you are not sure which one "
                          "it is)"), []) for p in self._priciest_item_pick(v)]
            overpaid = _saving_leader(v, policy.DELIVERED, self.tool)
            if overpaid is not None:
                o, item, _, products = overpaid
                picks.append((_Pick(o, "", v.all_order_reads(), len(v.orders), [UNKNOWN_IDS], item=item),
                              ("the item you overpaid for the most: among all items in your delivered orders, "
                              "the one whose price is furthest above the cheapest available option of the same "
                              "product (you do not know which one it is)"), products))
            v.rng.shuffle(picks)
        for pick, named, products in picks:
            o = pick.order
            items = self._items(v, pick)
            original = o.payment_history[0].payment_method_id
            methods = [m for m in v.user.payment_methods.values()
                       if policy.valid_refund_method(m.id, m.source, original)]
            method = v.rng.choice(methods)
            where = ("the original payment method of the order" if method.id == original
                     else v.method_text(method))
            refund = policy.refund_total(i.price for i in items)
            if named:
                what = named
            elif len(items) == len(o.items):
                what = f"everything in {pick.phrase}"
            else:
                what = f"the {_items_text(items)} from {pick.phrase}"
            yield _decision(
                v, pick, (self.tool, {"order_id": o.order_id, "item_ids": [i.item_id for i in items],
                                      "payment_method_id": method.id}),
                f"You want to return {what}, with the refund going to {where}.",
                criteria=["Before confirming a return, ask how much will be refunded."],
                communicate=[_money(refund)], products=products,
                extra_reads=[("get_user_details", {"user_id": v.user.user_id})],
            )

    def _items(self, v: _View, pick: _Pick) -> list[Any]:
        o = pick.order
        if pick.item is not None:
            return [pick.item]
        if len(o.items) == 1 or v.rng.random() < 0.4:
            return list(o.items)
        named = _changeable(o)
        if not named:
            return list(o.items)
        k = v.rng.randint(1, min(len(named), len(o.items) - 1))
        return v.rng.sample(named, k)

    def _priciest_item_pick(self, v: _View) -> list[_Pick]:
        """"Your most expensive delivered item": one item compared across every delivered order."""
        contenders = [(o, i) for o in v.orders if v.status0(o) == policy.DELIVERED for i in o.items]
        if len(contenders) < 2:
            return []
        best = _unique_best(contenders, lambda oi: oi[1].price, True)
        if best is None:
            return []
        o, item = best
        if o.status != policy.DELIVERED or not policy.may_follow(v.ops(o), self.tool):
            return []
        return [_Pick(o, "", v.all_order_reads(), len(v.orders), [UNKNOWN_IDS], item=item)]


@dataclass
class ModifyUserAddress(_RetailBlueprint):
    """Change the user's default address: to a new one, or to where one of their orders went."""

    name: str = "modify_user_address"
    tool: str = policy.MODIFY_USER_ADDRESS

    def options(self, v: _View) -> Iterator[Decision]:
        uid = v.user.user_id
        if not v.ctx.fresh(f"users:{uid}"):
            return
        default = _address_dict(v.user.address)
        if not v.high:
            addr = _new_address(v.rng, [default])
            yield self._decision(v, addr, [("get_user_details", {"user_id": uid})], 1,
                                 f"You have moved and want your default address updated to {_address_text(addr)}.",
                                 [], [])
            return
        # "Make my default address the one my <product> order went to": the agent must open
        # every order to find the one holding that product and check no other does.
        holders: dict[str, list[Any]] = {}
        for o in v.orders:
            for name in dict.fromkeys(i.name for i in o.items):
                holders.setdefault(name, []).append(o)
        options = [(name, os[0]) for name, os in holders.items()
                   if len(os) == 1 and not v.ops(os[0]) and _address_dict(os[0].address) != default]
        v.rng.shuffle(options)
        for name, o in options:
            addr = _address_dict(o.address)
            yield self._decision(
                v, addr, v.all_order_reads(), len(v.orders),
                f"You want your default address changed to the address your order with the {name} was shipped to.",
                [], [UNKNOWN_IDS, "You do not remember that address exactly."], order=o.order_id)

    def _decision(self, v: _View, addr: dict[str, str], reads: list[Call], candidates: int, request: str,
                  known: list[str], unknown: list[str], order: str | None = None) -> Decision:
        uid = v.user.user_id
        return Decision(
            write=(self.tool, {"user_id": uid, **addr}), reads=reads, candidates=candidates, request=request,
            known=known, unknown=unknown,
            entities=[f"users:{uid}"] + ([f"orders:{order}"] if order else []), targets=[f"users:{uid}"],
        )


# -- the composer ----------------------------------------------------------------------------------
@dataclass
class RetailComposer:
    """Composes retail tasks: picks a user with orders to act on and chains the blueprints."""

    domain: str = "retail"
    max_writes: int = MAX_WRITES
    blueprints: list[Blueprint] = field(default_factory=lambda: [
        CancelOrder(), ModifyOrderAddress(), ModifyOrderPayment(), ModifyOrderItems(), ExchangeItems(),
        ReturnItems(), ModifyUserAddress()])

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
            orders = [_peek(db.orders, oid) for oid in user.orders]
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

    def identify(self, db: Any, user_id: str, rng: random.Random) -> Identity:
        """Authenticate by email or by name and zip (the latter only where it finds this user first)."""
        user = _peek(db.users, user_id)
        first, last, zip_code = user.name.first_name, user.name.last_name, user.address.zip
        clash = any(u.name.first_name.lower() == first.lower() and u.name.last_name.lower() == last.lower()
                    and u.address.zip == zip_code and uid != user_id for uid, u in db.users.items())
        if clash or rng.random() < 0.5:
            find: Call = ("find_user_id_by_email", {"email": user.email})
            known = [f"Your name is {first} {last} and your email is {user.email}."]
        else:
            find = ("find_user_id_by_name_zip", {"first_name": first, "last_name": last, "zip": zip_code})
            known = [f"Your name is {first} {last} and your zip code is {zip_code}.",
                     "You do not remember your email address."]
        return Identity(reads=[find, ("get_user_details", {"user_id": user_id})], known=known,
                        opening=rng.choice(_OPENINGS))

    def persona(self, db: Any, user_id: str, rng: random.Random) -> str | None:
        """One of a few conversational styles, or none."""
        return rng.choice(_PERSONAS)


def build_composer() -> RetailComposer:
    """The retail composer the synthesis driver uses."""
    return RetailComposer()
