"""Data-quality figures: masking, variety, and the evidence rule on hand-made conversations."""

from __future__ import annotations

from writ_dagster.core.simulation.quality import (
    distinct_share,
    mask,
    most_repeated,
    names_set_aside,
    quality_figures,
    shows_evidence,
    split_sentences,
)
from writ_dagster.core.tasks.models import Candidate, Comparison


def test_mask_hides_ids_amounts_dates_emails_and_names_but_keeps_words():
    assert mask("Reservation VD4VDF costs $1,284.") == mask("Reservation ABC123 costs $12.50.")
    assert mask("Order #W2378156 has 3 items.") == "Order <id> has <id> items."
    assert mask("Your email is mia.li@example.com, right?") == "Your email is <email>, right?"
    assert mask("The first flight is on 2024-05-17.") == "The first flight is on <date>."
    assert mask("Thank you, Mia Garcia.") == mask("Thank you, Noah.") == "Thank you, <name>."
    assert mask("Flights from JFK to LAX.") == "Flights from <id> to <id>."
    kept = ["Is there anything else I can help you with?", "Alright, I've looked into it."]
    assert [mask(s) for s in kept] == kept
    assert mask("Thanks for waiting.") != mask("Thanks for your patience.")


def test_sentences_split_and_distinct_share_counts_templates():
    assert split_sentences("Sure. Order #W1 is cancelled! Anything else?") == [
        "Sure.", "Order #W1 is cancelled!", "Anything else?"]
    said = ["Order #W1 is cancelled.", "Order #W2 is cancelled.", "All done.", "All done."]
    assert distinct_share(said) == 0.5
    assert distinct_share([]) == 0.0
    assert most_repeated(said, 1) == [("Order <id> is cancelled.", 2)]


def _conversation(text: str) -> list[dict]:
    return [
        {"role": "assistant", "content": "Hi! How can I help you today?"},
        {"role": "user", "content": "Cancel my priciest trip."},
        {"role": "assistant", "tool_calls": [{"name": "get_reservation_details", "arguments": {"reservation_id": "AAA111"}}]},
        {"role": "assistant", "tool_calls": [{"name": "get_reservation_details", "arguments": {"reservation_id": "BBB222"}}]},
        {"role": "assistant", "content": text},
        {"role": "user", "content": "Yes."},
        {"role": "assistant", "tool_calls": [{"type": "function", "function": {
            "name": "cancel_reservation", "arguments": '{"reservation_id": "BBB222"}'}}]},
    ]


def test_evidence_rule_needs_a_set_aside_candidate_and_the_deciding_value():
    c = [[Comparison(things="reservations", criterion="the highest total fare",
                     chosen=Candidate(name="BBB222", value="$1,284"), others=[Candidate(name="AAA111", value="$300")])]]
    shown = _conversation("Of your two reservations, BBB222 has the highest total fare, $1,284; the other one is "
                          "AAA111 ($300). Shall I cancel BBB222?")
    only_choice = _conversation("BBB222 has the highest total fare, $1,284. Shall I cancel it?")
    no_value = _conversation("I compared BBB222 with AAA111. Shall I cancel BBB222?")
    assert shows_evidence(shown, c) and names_set_aside(shown)
    assert not shows_evidence(only_choice, c) and not names_set_aside(only_choice)
    assert not shows_evidence(no_value, c) and names_set_aside(no_value)
    assert not shows_evidence(shown, [[]])  # nothing was recorded as compared

    figures = quality_figures([shown, only_choice], [True, True], [c, c], top=2)
    assert figures["read_heavy_rows"] == 2 and figures["read_heavy_evidence_share"] == 0.5
    assert figures["read_heavy_set_aside_named_share"] == 0.5
    assert figures["top_agent_sentences"][0] == {"sentence": "Hi!", "count": 2}
    assert 0 < figures["agent_distinct_share"] < 1 and figures["user_sentences"] == 4


def test_a_kind_comparison_is_said_without_repeating_the_kind_as_a_measure():
    import random

    from writ_dagster.core.simulation.phrases import evidence

    card = Comparison(things="payment methods", criterion="the only credit card",
                      chosen=Candidate(name="the visa card ending in 3642", value="credit card"),
                      others=[Candidate(name="certificate_2005805", value="certificate"),
                              Candidate(name="certificate_9903318", value="certificate")])
    fare = card.model_copy(update={"criterion": "the highest total fare",
                                   "chosen": Candidate(name="VD4VDF", value="$1,284")})
    said = {evidence(random.Random(seed), card) for seed in range(20)}
    assert {text.split()[0] for text in said} == {"Of", "Only"}  # both shapes drawn
    for text in said:
        assert "(credit card)" in text and "certificate_2005805 (certificate)" in text
        assert "has the only" not in text and "credit card, credit card" not in text
    # a measure keeps its own shapes: the deciding value said after the criterion
    assert all("$1,284" in evidence(random.Random(seed), fare) for seed in range(20))


def test_the_most_recent_reservation_is_told_apart_from_others_booked_the_same_day():
    from writ_dagster.core.tasks.models import SynthesisConfig
    from writ_dagster.core.tasks.synthesis import Synthesizer

    batch = Synthesizer("airline", SynthesisConfig(tasks_per_batch=60)).synthesize("b0000")
    recent = [c for t in batch.tasks for m in t.axes.per_write for c in m.comparisons
              if c.chosen.value.startswith("booked ")]
    assert recent
    for c in recent:  # the deciding value is never one a set-aside reservation shares
        assert all(o.value != c.chosen.value for o in c.others), c
