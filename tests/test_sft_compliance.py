"""The policy-compliance filter: each rule caught on a hand-made conversation, a compliant one kept,
the scripted default kept whole, and drops counted by rule in the SFT set and its card."""

from __future__ import annotations

import copy

import pytest
from writ_testing import scripted_conversations

from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.sft.compliance import (
    MULTIPLE_CALLS,
    REASONS,
    TEXT_AND_CALL,
    UNASKED_WRITE,
    UNCONFIRMED_WRITE,
    describes,
    is_confirmation,
    violations,
)
from writ_dagster.core.sft.curate import build_sft
from writ_dagster.core.sft.export import dataset_card
from writ_dagster.core.sft.models import SFTConfig

AIRLINE_WRITES = get_domain("airline").write_tools


def _agent(text: str | None = None, *calls: tuple[str, dict]) -> dict:
    return {"role": "assistant", "content": text,
            "tool_calls": [{"id": f"c{i}", "name": n, "arguments": a, "requestor": "assistant"}
                           for i, (n, a) in enumerate(calls)] or None}


def _user(text: str) -> dict:
    return {"role": "user", "content": text}


def _tool(text: str = "{}") -> dict:
    return {"role": "tool", "id": "c0", "content": text, "requestor": "assistant", "error": False}


READ = ("get_reservation_details", {"reservation_id": "ABC123"})
CANCEL = ("cancel_reservation", {"reservation_id": "ABC123"})
PROPOSAL = "Here is what I'll do: cancel reservation ABC123, all flights included. Please confirm with yes."


def compliant() -> list[dict]:
    return [_agent("Hi! How can I help you today?"), _user("Please cancel my trip ABC123, user mia_li_3668."),
            _agent(None, READ), _tool(), _agent(PROPOSAL), _user("Yes, please go ahead."),
            _agent(None, CANCEL), _tool(), _agent("Reservation ABC123 has been cancelled."), _user("###STOP###")]


def test_a_compliant_conversation_passes_and_reads_need_no_confirmation() -> None:
    assert violations(compliant(), AIRLINE_WRITES) == []
    thinking = compliant()
    thinking[2]["content"] = "<think>I need the reservation first.</think>"  # reasoning beside a call is no text
    assert violations(thinking, AIRLINE_WRITES) == []


@pytest.mark.parametrize("name, edit, reason", [
    ("no yes at all", lambda c: c[:5] + c[6:], UNCONFIRMED_WRITE),
    ("a refusal", lambda c: c[:5] + [_user("No, wait, not that one.")] + c[6:], UNCONFIRMED_WRITE),
    ("a doubtful yes", lambda c: c[:5] + [_user("Yes, but don't cancel the return.")] + c[6:], UNCONFIRMED_WRITE),
    ("a yes to a question without the details", lambda c: c[:2] + [_agent("Shall I help? yes/no"), _user("Yes.")]
     + [_agent(None, CANCEL), _tool()], UNASKED_WRITE),
    ("a yes, then more talk before the write", lambda c: c[:6] + [_agent("Great."), _user("Thanks.")] + c[6:],
     UNCONFIRMED_WRITE),
    ("one yes, two writes", lambda c: c[:8] + [_agent(None, ("cancel_reservation", {"reservation_id": "XYZ789"})),
                                               _tool()], UNCONFIRMED_WRITE),
    ("a write other than the one described",
     lambda c: c[:6] + [_agent(None, ("cancel_reservation", {"reservation_id": "XYZ789"}))] + c[7:], UNASKED_WRITE),
    ("details changed after the yes",
     lambda c: c[:6] + [_agent(None, ("update_reservation_baggages", {"reservation_id": "ABC123",
                                                                      "total_baggages": 3, "nonfree_baggages": 2,
                                                                      "payment_id": "credit_card_1"}))] + c[7:],
     UNASKED_WRITE),
    ("two tool calls in one message", lambda c: c[:2] + [_agent(None, READ, READ), _tool()] + c[4:],
     MULTIPLE_CALLS),
    ("text with a tool call", lambda c: c[:2] + [_agent("Let me look that up.", READ), _tool()] + c[4:],
     TEXT_AND_CALL),
    ("details stated only in the reasoning were never told to the user",
     lambda c: c[:4] + [_agent("<think>" + PROPOSAL + "</think>"), _user("Yes.")] + c[6:], UNASKED_WRITE),
])
def test_each_rule_is_caught(name: str, edit, reason: str) -> None:
    found = violations(edit(compliant()), AIRLINE_WRITES)
    assert found and found[0] == reason, (name, found)


def test_the_words_of_a_yes_and_of_a_description() -> None:
    for yes in ("Yes, please go ahead.", "Yes.", "Okay, yes, I confirm. Please proceed.", "Yes. Please just do it."):
        assert is_confirmation(yes), yes
    for not_yes in ("No.", "Can you check the other one?", "Yes, but not today.", "I don't think so, yes?", None):
        assert not is_confirmation(not_yes), not_yes
    args = {"reservation_id": "ABC123", "flights": [{"flight_number": "HAT170", "date": "2024-05-20"}],
            "cabin": "economy", "payment_id": "credit_card_7815826", "insurance": True}
    assert describes("change ABC123 to economy on flight HAT170 on 2024-05-20, charged to your visa", args)
    assert not describes("change ABC123 to economy on flight HAT170 on 2024-05-21", args)  # the date differs
    assert describes("issue a travel certificate of $150", {"user_id": "mia_li_3668", "amount": 150.0})


@pytest.fixture(scope="module")
def scripted():
    """The scripted default (oracle agent, scripted user) on a small batch per domain, as a run makes it."""
    return scripted_conversations(12, "c0000")


def test_the_scripted_default_passes_the_filter_whole(scripted) -> None:
    tasks, records = scripted
    writes = 0
    for rec in records:
        write_tools = get_domain(rec.domain).write_tools
        writes += sum(c["name"] in write_tools for m in rec.messages for c in (m.get("tool_calls") or []))
        assert violations(rec.messages, write_tools) == [], rec.trajectory_id
    assert writes >= len(records)  # the rules were exercised: every conversation writes
    build = build_sft(records, tasks, SFTConfig())
    assert not set(REASONS) & set(build.dropped)
    off = build_sft(records, tasks, SFTConfig(policy_filter=False))
    assert [r.model_dump(exclude={"sft_version"}) for r in off.rows] == \
        [r.model_dump(exclude={"sft_version"}) for r in build.rows]


def test_drops_are_counted_by_rule_in_the_set_and_its_card(scripted) -> None:
    tasks, records = scripted
    # A refusal conversation has no write to break.
    with_writes = [r for r in records if r.reward == 1.0 and any(
        c["name"] in get_domain(r.domain).write_tools for m in r.messages for c in (m.get("tool_calls") or []))]

    def broken(rec, how: str):
        msgs = copy.deepcopy(rec.messages)
        i = next(i for i, m in enumerate(msgs) if any(c["name"] in get_domain(rec.domain).write_tools
                                                      for c in (m.get("tool_calls") or [])))
        if how == "unconfirmed":
            msgs[i - 1]["content"] = "Hmm, let me think about it."
        elif how == "talking":
            msgs[i]["content"] = "Doing it now."
        return rec.model_copy(update={"messages": msgs, "trajectory_id": f"{rec.trajectory_id}-{how}"})

    bad = [broken(with_writes[0], "unconfirmed"), broken(with_writes[1], "talking")]
    build = build_sft(records + bad, tasks, SFTConfig())
    assert build.dropped[UNCONFIRMED_WRITE] == 1 and build.dropped[TEXT_AND_CALL] == 1
    assert not {r.trajectory_id for r in bad} & {r.trajectory_id for r in build.rows}
    assert len(build.rows) + sum(build.dropped.values()) == build.considered
    card = dataset_card(build)
    assert "## Policy compliance" in card and "| write without an explicit confirmation | 1 |" in card
    assert "| more than one tool call in a message | 0 |" in card
    off = build_sft(records + bad, tasks, SFTConfig(policy_filter=False))
    assert not set(REASONS) & set(off.dropped) and "## Policy compliance" not in dataset_card(off)
    # options left at their default do not change the set's version
    assert SFTConfig().content_hash() == SFTConfig(policy_filter=True, include_reasoning=False).content_hash()
    assert SFTConfig().content_hash() != SFTConfig(policy_filter=False).content_hash()
