"""How a retail user points at one of their orders, and what a careful agent reads to find it.

At low burden the user names the order by id. At high burden they describe it by a property
("my pending order with the most items"), and the agent must read the profile and every
order before the target is fixed; a description is used only when it singles out one order
under both readings of a request that comes after earlier writes of the same task (see
:func:`order_phrases`). Also here: the per-task memory of earlier writes and the read-only
view of the user's records that the blueprints share.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from writ_dagster.core.domains.state import peek
from writ_dagster.core.language import formats
from writ_dagster.core.tasks.blueprints import Call, ComposeContext, compare
from writ_dagster.core.tasks.models import Comparison
from writ_dagster.core.tasks.retail import policy
from writ_dagster.core.tasks.retail.phrases import SAY

_SAY: dict[str, str] = SAY["locate"]
_PAY: dict[str, str] = SAY["payment"]

DEFER_FINAL = 0.5
UNKNOWN_IDS = "You do not remember your order ids."


def _a(noun: str) -> str:
    """``noun`` with its indefinite article: "an Espresso Machine", "a Backpack"."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def unique_best(records: list[Any], key: Callable[[Any], float], highest: bool) -> Any | None:
    """The single record with the highest (lowest) key; None when that best value is shared."""
    if not records:
        return None
    scored = [(round(key(r), 2), r) for r in records]
    best = max(s for s, _ in scored) if highest else min(s for s, _ in scored)
    winners = [r for s, r in scored if s == best]
    return winners[0] if len(winners) == 1 else None


def order_total(order: Any) -> float:
    """What the order's items cost when bought."""
    return sum(i.price for i in order.items)


def describe_method(method: Any, methods: dict[str, Any]) -> str:
    """How the user names a payment method; the id is added only where the words are ambiguous."""

    def words(m: Any) -> str:
        if m.source == "credit_card":
            return _PAY["credit_card"].format(brand=m.brand.title(), last_four=m.last_four)
        if m.source == "paypal":
            return _PAY["paypal"]
        return _PAY["gift_card"]

    text = words(method)
    if sum(1 for m in methods.values() if words(m) == text) > 1:
        text = _PAY["with_id"].format(method=text, id=method.id)
    return text


# -- per-task state ------------------------------------------------------------------------------
@dataclass
class Track:
    """What this composer remembers across the decisions of one task (kept in ``ctx.state``)."""

    mark: int | None = None  # len(ctx.done_reads) right after the previous decision's reads
    ops: dict[str, list[str]] = field(default_factory=dict)  # order id -> write tools used on it
    status0: dict[str, str] = field(default_factory=dict)  # order id -> status before this task's first write
    said: set[str] = field(default_factory=set)  # unknown-info lines already given
    no_ids: str | None = None  # this task's wording of "you do not remember your order ids"

    def segment_reads(self, done: int) -> int:
        """Reads made since the previous write (identification counts toward the first)."""
        return done - (self.mark or 0)


def track_of(ctx: ComposeContext) -> Track:
    """This task's :class:`Track`, made on first use."""
    return ctx.state.setdefault("retail", Track())


class View:
    """The user's records as the fork has them now, plus the task's memory of its own writes."""

    def __init__(self, ctx: ComposeContext) -> None:
        self.ctx = ctx
        self.rng = ctx.rng
        self.high = ctx.burden == "high"
        self.user = peek(ctx.db.users, ctx.user_id)
        self.orders = [peek(ctx.db.orders, oid) for oid in self.user.orders]
        self.track = track_of(ctx)

    def product(self, product_id: str) -> Any:
        return peek(self.ctx.db.products, product_id)

    def ops(self, order: Any) -> list[str]:
        return self.track.ops.get(order.order_id, [])

    def status0(self, order: Any) -> str:
        """The status the user thinks of: the one the order had before this task changed it."""
        return self.track.status0.get(order.order_id, order.status)

    def method_text(self, method: Any) -> str:
        return describe_method(method, self.user.payment_methods)

    def all_order_reads(self) -> list[Call]:
        """What a careful agent reads to compare the user's orders: the profile and every order."""
        return [("get_user_details", {"user_id": self.user.user_id})] + [
            ("get_order_details", {"order_id": o.order_id}) for o in self.orders
        ]


@dataclass
class Pick:
    """An order the write acts on and how the user points at it."""

    order: Any
    phrase: str
    reads: list[Call]
    candidates: int
    unknown: list[str]
    item: Any = None  # set when the user points at one item and the order follows from it
    comparisons: list[Comparison] = field(default_factory=list)  # how the order was singled out


def order_id(order: Any) -> str:
    """How the agent names an order."""
    return str(order.order_id)


def count_items(n: int) -> str:
    return _SAY["one_item" if n == 1 else "items"].format(n=n)


def order_phrases(v: View, contenders: list[Any], noun: str) -> list[tuple[str, Any, Comparison]]:
    """Property phrases that single out one of ``contenders`` (orders the user counts as ``noun``).

    Contenders include orders this task already changed, judged by their status before the
    change, so "the pending order with the most items" means the same order whether the agent
    reads it before or after the earlier writes. Totals and prices are left out once any
    contender had its items changed (the prices it shows are no longer what was paid).
    """
    if len(contenders) == 1:
        out = [
            (
                _SAY["only"].format(noun=noun),
                contenders[0],
                compare(
                    _SAY["orders"],
                    _SAY["only_criterion"].format(status=noun.split()[0]),
                    contenders[0],
                    v.orders,
                    order_id,
                    v.status0,
                ),
            )
        ]
    else:
        out = _count_phrases(contenders, noun)
        if not any(policy.MODIFY_ITEMS in v.ops(o) for o in contenders):
            out += _price_phrases(contenders, noun)
        out += _exact_count_phrases(contenders, noun)
    return out + _holder_phrases(v, contenders, noun)


def _item_count(o: Any) -> str:
    return count_items(len(o.items))


def _top_item(o: Any) -> float:
    return max(i.price for i in o.items)


def _count_phrases(contenders: list[Any], noun: str) -> list[tuple[str, Any, Comparison]]:
    """The order with the most, or the fewest, items, where one has."""
    out: list[tuple[str, Any, Comparison]] = []
    key: Callable[[Any], float]
    for phrase, key, highest, criterion in (
        (_SAY["most_items"], lambda o: len(o.items), True, _SAY["most_items_criterion"]),
        (_SAY["fewest_items"], lambda o: len(o.items), False, _SAY["fewest_items_criterion"]),
    ):
        best = unique_best(contenders, key, highest)
        if best is not None:
            things = _SAY["things"].format(noun=noun)
            out.append(
                (
                    _SAY["described"].format(noun=noun, phrase=phrase),
                    best,
                    compare(things, criterion, best, contenders, order_id, _item_count),
                )
            )
    return out


def _price_phrases(contenders: list[Any], noun: str) -> list[tuple[str, Any, Comparison]]:
    """The order with the highest or lowest total, or the priciest single item, where one has."""
    out: list[tuple[str, Any, Comparison]] = []
    key: Callable[[Any], float]
    for phrase, key, highest, criterion, said in (
        (_SAY["highest_total"], order_total, True, _SAY["highest_total_criterion"], _SAY["total"]),
        (_SAY["lowest_total"], order_total, False, _SAY["lowest_total_criterion"], _SAY["total"]),
        (_SAY["top_item"], _top_item, True, _SAY["top_item_criterion"], _SAY["top_item_price"]),
    ):
        best = unique_best(contenders, key, highest)
        if best is not None:
            # (named: mypy cannot infer a lambda with default arguments passed as a one-argument callable)
            value = lambda o, k=key, w=said: w.format(amount=formats.money(k(o)))  # noqa: E731
            things = _SAY["things"].format(noun=noun)
            out.append(
                (
                    _SAY["described"].format(noun=noun, phrase=phrase),
                    best,
                    compare(things, criterion, best, contenders, order_id, value),
                )
            )
    return out


def _exact_count_phrases(contenders: list[Any], noun: str) -> list[tuple[str, Any, Comparison]]:
    """Each order whose item count no other has (the most and the fewest are said as such)."""
    out: list[tuple[str, Any, Comparison]] = []
    sizes = [len(o.items) for o in contenders]
    for o in contenders:
        n = len(o.items)
        if sizes.count(n) == 1 and n not in (max(sizes), min(sizes)):
            out.append(
                (
                    _SAY["exactly"].format(noun=noun, n=n),
                    o,
                    compare(
                        _SAY["things"].format(noun=noun),
                        _SAY["exactly_criterion"].format(n=n),
                        o,
                        contenders,
                        order_id,
                        _item_count,
                    ),
                )
            )
    return out


def _holder_phrases(v: View, contenders: list[Any], noun: str) -> list[tuple[str, Any, Comparison]]:
    """Each order that alone holds some product."""
    out: list[tuple[str, Any, Comparison]] = []
    holders: dict[str, list[Any]] = {}
    for o in contenders:
        for name in dict.fromkeys(i.name for i in o.items):
            holders.setdefault(name, []).append(o)
    for name, orders in holders.items():
        if len(orders) == 1:
            # (named: mypy cannot infer a lambda with default arguments passed as a one-argument callable)
            holds = lambda o, n=name: (_SAY["holds"] if o is orders[0] else _SAY["lacks"]).format(name=n)  # noqa: E731
            out.append(
                (
                    _SAY["contains"].format(noun=noun, a_name=_a(name)),
                    orders[0],
                    compare(
                        _SAY["things"].format(noun=noun) if len(contenders) > 1 else _SAY["orders"],
                        _SAY["holder_criterion"].format(name=name),
                        orders[0],
                        contenders if len(contenders) > 1 else v.orders,
                        order_id,
                        holds,
                    ),
                )
            )
    return out


def locate_orders(v: View, status: str, tool: str, ok: Callable[[Any], bool] = lambda o: True) -> list[Pick]:
    """Every (order, phrase) the write may act on, in random order; empty when none is legal."""

    def legal(o: Any) -> bool:
        return (
            o.status == status and policy.may_follow(v.ops(o), tool) and ok(o) and v.ctx.allows(f"orders:{o.order_id}")
        )

    picks: list[Pick] = []
    if not v.high:
        for o in v.orders:
            if legal(o):
                picks.append(
                    Pick(
                        o,
                        _SAY["by_id"].format(order_id=o.order_id),
                        [("get_order_details", {"order_id": o.order_id})],
                        1,
                        [],
                    )
                )
    else:
        noun = _SAY["noun"].format(status=status)
        contenders = [o for o in v.orders if v.status0(o) == status]
        reads = v.all_order_reads()
        for phrase, o, how in order_phrases(v, contenders, noun):
            if legal(o):
                picks.append(Pick(o, phrase, reads, len(v.orders), [UNKNOWN_IDS], comparisons=[how]))
    if tool in (policy.CANCEL, policy.MODIFY_ITEMS) and v.rng.random() < DEFER_FINAL:
        # A cancellation or item change closes the order to further changes; half the time,
        # leave orders that could still take an address or payment change for those, so long
        # tasks do not run out of targets.
        picks = [p for p in picks if not policy.may_follow(v.ops(p.order), policy.MODIFY_ADDRESS)]
    v.rng.shuffle(picks)
    return picks


def which(v: View, pick: Pick) -> str:
    """The user's words for the picked order: its id and contents at low burden, the property at high."""
    return pick.phrase if v.high else _SAY["with_items"].format(order=pick.phrase, items=items_text(pick.order.items))


def items_text(items: list[Any]) -> str:
    """Item names joined as the user lists them ("A, B and C")."""
    names = [i.name for i in items]
    return names[0] if len(names) == 1 else _SAY["items_joiner"].join(names[:-1]) + _SAY["items_last"] + names[-1]
