"""Instructions a person would write, figures only where asked, and the stricter decontamination."""

from __future__ import annotations

import os
import re

import pytest

from writ_dagster.core.domains.entities import payment_method
from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.tasks.decontamination import build_index, task_entities
from writ_dagster.core.tasks.models import SynthesisConfig
from writ_dagster.core.tasks.reporting import rejection_counts
from writ_dagster.core.tasks.synthesis import Synthesizer
from writ_dagster.core.tasks.variety import distinct_masked_share, mask, task_instructions_of
from writ_dagster.core.users.outline import outline_task

PAYMENT_KEYS = ("payment_id", "payment_method_id")


@pytest.fixture(scope="module")
def default_batches() -> dict[str, list]:
    """A default-size batch (the default run's) per domain."""
    return {d: Synthesizer(d, SynthesisConfig(), os.environ.get("WRIT_UPSTREAM_TASKS")).synthesize("b0000")
            for d in ("airline", "retail")}


def _records(airline_batch, retail_batch):
    return [r for _, batch in (airline_batch, retail_batch) for r in batch.tasks]


def test_masking_hides_specifics_but_keeps_the_words():
    assert mask("Your user id is mia_li_3668, and your name is Mia Li.") == \
        "Your user id is <id>, and your name is <name>."
    assert mask("You signed up with a.b@example.com; it costs $12.50.") == "You signed up with <email>; it costs <amount>."
    assert distinct_masked_share(["You want to cancel ABC123.", "You want to cancel XYZ789."]) == 0.5
    assert distinct_masked_share([]) == 0.0


@pytest.mark.parametrize("domain", ["airline", "retail"])
def test_a_default_batch_has_varied_instructions(default_batches, domain):
    batch = default_batches[domain]
    assert len(batch.tasks) == SynthesisConfig().tasks_per_batch
    assert distinct_masked_share(task_instructions_of(r.task) for r in batch.tasks) >= 0.45


def test_the_user_never_names_themself_in_their_story(airline_batch, retail_batch):
    for rec in _records(airline_batch, retail_batch):
        user = get_domain(rec.domain).base.db.users[rec.user_id]
        full = f"{user.name.first_name} {user.name.last_name}"
        instr = rec.task["user_scenario"]["instructions"]
        assert full not in instr["reason_for_call"], (rec.task_id, instr["reason_for_call"])
        assert "Give the agent only information" not in instr["task_instructions"]  # the old boilerplate


def _payment_words(domain, user_id: str, method_id: str) -> list[str]:
    """Words by which a user can name a payment method, any of which identifies it in context."""
    pm = payment_method(domain, user_id, method_id)
    words = ["original payment method", "largest balance", "you only have one", method_id]
    if pm is not None and pm.source == "credit_card":
        words.append(str(pm.last_four))
    if pm is not None and pm.source == "paypal":
        words.append("PayPal")
    if pm is not None and pm.source == "gift_card":
        words.append("gift card")
    return words


def test_each_payment_method_is_stated_beside_its_request(airline_batch, retail_batch):
    checked = 0
    for rec in _records(airline_batch, retail_batch):
        outline = outline_task(rec)
        domain = outline.domain
        known = rec.task["user_scenario"]["instructions"].get("known_info") or ""
        for w in outline.writes:
            ids = [w.arguments[k] for k in PAYMENT_KEYS if isinstance(w.arguments.get(k), str)]
            ids += [p["payment_id"] for p in w.arguments.get("payment_methods", []) or []]
            line = outline.requests[w.request].line
            for method_id in ids:
                assert any(x in line for x in _payment_words(domain, rec.user_id, method_id)), (rec.task_id, line)
                checked += 1
        assert not re.search(r"\bpay\b|credit card|gift card|PayPal", known), (rec.task_id, known)
    assert checked >= 20


def test_every_figure_to_communicate_is_one_the_user_asks_for(airline_batch, retail_batch):
    asked = 0
    for rec in _records(airline_batch, retail_batch):
        outline = outline_task(rec)
        assert not outline.unassigned_figures, rec.task_id
        for w in outline.writes:
            if w.figures:
                req = outline.requests[w.request]
                # a conditional request asks by its condition ("only if the refund is at least $200")
                assert any("how much" in f for f in req.facts) or req.condition, (rec.task_id, req.line)
                asked += 1
    assert asked >= 10


def test_a_task_carrying_a_base_tasks_gold_write_is_rejected():
    domain = get_domain("retail")
    index = build_index(domain)
    base = next(t for t in domain.base_tasks()
                if any(a.name in domain.write_tools for a in t.evaluation_criteria.actions or []))
    write = next((a.name, a.arguments) for a in base.evaluation_criteria.actions if a.name in domain.write_tools)
    found = index.check_writes([write], [])
    assert found is not None and found[0] == "write equals a τ²-bench gold write"
    assert f"tau2:{base.id}" in found[1]
    # Any other arguments are a different write.
    other = (write[0], {**write[1], "__changed": 1})
    assert index.check_writes([other], []) is None


@pytest.mark.parametrize("domain", ["airline", "retail"])
def test_no_test_split_user_or_entity_is_used_by_default(default_batches, domain):
    dom = get_domain(domain)
    held_out = set().union(*[task_entities(dom, t) for t in dom.tasks_loader("test")])
    assert any(e.startswith("users:") for e in held_out)
    batch = default_batches[domain]
    for rec in batch.tasks:
        assert f"users:{rec.user_id}" not in held_out, rec.task_id
        assert not set(rec.sources.entities) & held_out, rec.task_id
    # The rule is enforced by rejection, counted by reason.
    assert rejection_counts(batch.rejections).get("user of a τ²-bench task", 0) > 0


def test_the_option_widens_the_held_out_users_to_every_base_task():
    domain = get_domain("airline")
    test_only = build_index(domain, avoid_users_of="test").avoided
    every = build_index(domain, avoid_users_of="base").avoided
    assert test_only < every
