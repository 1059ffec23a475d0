"""User scripts: deterministic, diverse, and the checker keeps facts in and evidence out."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.tasks.conditions import figure_text
from writ_dagster.core.tasks.models import TaskRecord
from writ_dagster.core.users import check_script, make_scripts
from writ_dagster.core.users.check import secrets
from writ_dagster.core.users.meaning import conveys, missing
from writ_dagster.core.users.models import conflicts
from writ_dagster.core.users.ordering import reorder_allowed
from writ_dagster.core.users.outline import outline_task
from writ_dagster.core.users.paraphrase import paraphrase_request
from writ_dagster.core.users.phrasing import to_first_person

N_VARIANTS = 4


@pytest.fixture(scope="module")
def scripted(airline_batch, retail_batch) -> dict[str, list[tuple[TaskRecord, list]]]:
    out = {}
    for name, (_, batch) in (("airline", airline_batch), ("retail", retail_batch)):
        out[name] = [(rec, make_scripts(rec, N_VARIANTS, seed=11)) for rec in batch.tasks]
    return out


def _all(scripted):
    return [(rec, s) for pairs in scripted.values() for rec, scripts in pairs for s in scripts]


def test_scripts_are_deterministic_per_seed_and_task(airline_batch, retail_batch):
    for _, batch in (airline_batch, retail_batch):
        rec = batch.tasks[3]
        a = [s.model_dump() for s in make_scripts(rec, N_VARIANTS, seed=11)]
        b = [s.model_dump() for s in make_scripts(rec, N_VARIANTS, seed=11)]
        assert a == b
        c = [s.model_dump() for s in make_scripts(rec, N_VARIANTS, seed=12)]
        assert {**c[0], "seed": 0} == {**a[0], "seed": 0}  # variant 0 is canonical whatever the seed
        assert a[1:] != c[1:]
        assert len({s["script_id"] for s in a + c}) == 2 * N_VARIANTS - 1


def test_variant_zero_is_the_canonical_instruction(scripted):
    for pairs in scripted.values():
        for rec, scripts in pairs:
            assert len(scripts) == N_VARIANTS
            assert not scripts[0].has_user_script and scripts[0].user_scenario == rec.task["user_scenario"]
            assert all(s.has_user_script for s in scripts[1:])
            assert len({s.dimensions for s in scripts}) == N_VARIANTS
            assert len({s.script_id for s in scripts}) == N_VARIANTS


def test_every_generated_script_passes_the_checker(scripted):
    for rec, script in _all(scripted):
        assert check_script(rec, script) == [], script.script_id
        assert script.content_hash == script.compute_hash()


def test_dimensions_are_covered(scripted):
    seen = Counter()
    for _, script in _all(scripted):
        if script.has_user_script:
            for key, value in script.dimensions.model_dump().items():
                seen[(key, value)] += 1
    for key, values in {"disclosure": ("all_at_once", "progressive", "on_request"), "opening": ("direct", "vague"),
                        "verbosity": ("terse", "normal", "chatty"), "order": ("gold", "reordered"),
                        "slip": ("none", "identity", "readback")}.items():
        for value in values:
            assert seen[(key, value)] > 0, (key, value)
    assert len({k for k in seen if k[0] == "tone"}) >= 5


def test_reordering_only_where_the_outcome_cannot_change(scripted):
    reordered = [(rec, s) for rec, s in _all(scripted) if s.dimensions.order == "reordered"]
    assert reordered
    for rec, script in reordered:
        outline = outline_task(rec)
        assert script.telling_order != sorted(script.telling_order)
        assert all(r.by_id for r in outline.requests)
        assert reorder_allowed(outline, script.telling_order)
        assert "in this order" not in script.user_scenario["instructions"]["reason_for_call"]


def test_identity_slips_do_not_name_another_user(scripted):
    users = get_domain("airline").base.db.users
    slips = [s.slip for _, s in _all(scripted) if s.slip is not None and s.slip.kind == "identity"]
    assert slips
    for slip in slips:
        assert slip.wrong != slip.right
        if slip.field == "user_id":
            assert slip.wrong not in users and slip.wrong not in get_domain("retail").base.db.users


def _read_heavy_with_secret(scripted):
    for rec, scripts in scripted["airline"] + scripted["retail"]:
        ids, amounts = secrets(rec)
        if rec.trajectory_type == "read-heavy" and ids and amounts:
            return rec, scripts[1], sorted(ids)[0], sorted(amounts)[0]
    pytest.skip("no read-heavy task with secret ids and amounts")


def test_checker_catches_a_leaked_target_id(scripted):
    rec, script, secret_id, _ = _read_heavy_with_secret(scripted)
    lines = script.lines.model_copy(update={"requests": [r + f" It is {secret_id}, I think." for r in
                                                         script.lines.requests]})
    problems = check_script(rec, script.model_copy(update={"lines": lines}))
    assert any("leak" in p and secret_id in p for p in problems), problems


def test_checker_catches_a_leaked_amount_in_the_instruction(scripted):
    rec, script, _, amount = _read_heavy_with_secret(scripted)
    scenario = {**script.user_scenario, "instructions": dict(script.user_scenario["instructions"])}
    scenario["instructions"]["task_instructions"] += f"\nYou expect the refund to be ${amount}."
    problems = check_script(rec, script.model_copy(update={"user_scenario": scenario}))
    assert any("instruction leak amount" in p for p in problems), problems


def test_checker_catches_a_missing_fact(scripted):
    rec, scripts = next((r, s) for r, s in scripted["airline"] if outline_task(r).all_facts())
    script = scripts[1]
    fact = outline_task(rec).all_facts()[0]
    scenario = {**script.user_scenario, "instructions": dict(script.user_scenario["instructions"])}
    # Facts sit beside their request, in reason_for_call.
    scenario["instructions"]["reason_for_call"] = scenario["instructions"]["reason_for_call"].replace(fact, "")
    problems = check_script(rec, script.model_copy(update={"user_scenario": scenario}))
    assert any("instruction lost a known fact" in p for p in problems), problems

    # Spoken facts are paraphrased: drop the whole telling of the fact's request.
    k = next(r.index for r in outline_task(rec).requests if fact in r.facts)
    lines = script.lines.model_copy(update={"facts": [("" if i == k else f) for i, f in enumerate(script.lines.facts)]})
    problems = check_script(rec, script.model_copy(update={"lines": lines}))
    assert any("never says a known fact" in p for p in problems), problems


def test_checker_catches_a_missing_question_for_a_figure(scripted):
    # The question that makes the user ask for a figure is a fact of its request: the scripted
    # user must say it, or the agent is scored on a figure nobody asked for.
    found = [(r, s) for r, s in scripted["retail"] + scripted["airline"]
             if any(w.figures for w in outline_task(r).writes)]
    rec, scripts = found[0]
    outline = outline_task(rec)
    req = next(outline.requests[w.request] for w in outline.writes if w.figures)
    assert any("how much" in f for f in req.facts)
    script = scripts[2]
    lines = script.lines.model_copy(update={"facts": [("" if i == req.index else f)
                                                      for i, f in enumerate(script.lines.facts)]})
    problems = check_script(rec, script.model_copy(update={"lines": lines}))
    assert any("never says a known fact" in p for p in problems), problems


def test_checker_rejects_reordering_dependent_requests(scripted):
    for rec, scripts in scripted["airline"]:
        outline = outline_task(rec)
        if len(outline.requests) > 1 and not all(r.by_id for r in outline.requests):
            order = list(range(len(outline.requests)))[::-1]
            problems = check_script(rec, scripts[1].model_copy(update={"telling_order": order}))
            assert any("reordered" in p for p in problems), problems
            return
    pytest.skip("no multi-request task with a property-described request")


def test_first_person_phrasing():
    assert to_first_person("You want to cancel reservation ABC123. The reason is health reasons: you are ill "
                           "and cannot travel.") == ("I want to cancel reservation ABC123. The reason is health "
                                                     "reasons: I am ill and cannot travel.")
    assert to_first_person("You want to book a trip for you and Ana Li (born 1990-01-02).") == \
        "I want to book a trip for me and Ana Li (born 1990-01-02)."
    assert to_first_person("Your name is Ana Li and your zip code is 12345.") == \
        "My name is Ana Li and my zip code is 12345."
    assert to_first_person("If there is a fee, you pay with your gift card gift_card_1.") == \
        "If there is a fee, I'll pay with my gift card gift_card_1."


def test_outline_ties_every_figure_and_request_to_a_write(scripted):
    for pairs in scripted.values():
        for rec, _ in pairs:
            outline = outline_task(rec)
            assert len(outline.writes) == sum(1 for s in rec.gold_actions if s.kind == "write")
            assert sorted(w for r in outline.requests for w in r.writes) == list(range(len(outline.writes)))
            info = rec.task["evaluation_criteria"].get("communicate_info") or []
            # a question's answer belongs to its request (said when answered), not to a write
            answered = [v for v in info if any(v in r.answer.replace(",", "") for r in outline.requests if r.answer)]
            figures = [f.value for w in outline.writes for f in w.figures] + outline.unassigned_figures + answered
            # a condition's figure is said with the branch it decides, whether or not a write is made
            limits = {figure_text(r.condition.figure) for r in outline.requests if r.condition}
            figures += [v for v in info if v in limits and v not in figures]
            assert sorted(figures) == sorted(info)
            assert outline.identity and outline.identity_reads


def test_variants_say_the_same_requests_in_different_words(scripted):
    # Item: variants vary the words of requests and facts, not only the greeting.
    differing = total = 0
    for rec, scripts in scripted["airline"] + scripted["retail"]:
        for k in range(len(scripts[0].lines.requests)):
            said = {s.lines.requests[k] for s in scripts}
            total += 1
            differing += len(said) > 1
    assert differing / total >= 0.6, (differing, total)


def test_confirmations_and_closings_come_from_large_pools(scripted):
    confirms = Counter(c for rec, s in _all(scripted) for c in s.lines.confirm)
    closings = Counter(s.lines.closing for rec, s in _all(scripted))
    assert len(confirms) >= 100 and confirms.most_common(1)[0][1] / sum(confirms.values()) < 0.05
    assert len(closings) >= 40
    assert all(re.search(r"\byes\b", c, re.I) for c in confirms)


def test_contradictory_behaviours_are_never_drawn_and_are_rejected(scripted):
    for rec, script in _all(scripted):
        assert not conflicts(script.dimensions), script.dimensions
    rec, scripts = scripted["airline"][0]
    bad = scripts[1].model_copy(update={"dimensions": scripts[1].dimensions.model_copy(
        update={"opening": "vague", "disclosure": "all_at_once"})})
    assert any("contradictory" in p for p in check_script(rec, bad))


def test_meaning_judge_needs_particulars_conditions_and_content():
    line = "You want to cancel reservation ABC123 only if the refund is at least $200."
    values = ["ABC123", "200.0"]  # the task's data: the reservation and the user's limit, written "$200"
    assert conveys(line, "Could you cancel reservation ABC123, but only if I get at least $200 back as a refund?",
                   values)
    assert not conveys(line, "Could you cancel reservation ABC124 only if the refund is at least $200?", values)
    assert not conveys(line, "Could you cancel reservation ABC123 if the refund is at least $200?", values)
    assert not conveys(line, "Please help with ABC123 and $200.", values)
    assert "'200.0'" not in " ".join(missing(line, "cancel reservation ABC123 only if the refund is $200", values))
    assert missing(line, "cancel reservation ABC123 only if the refund is $300", values) == ["'200.0'"]


def test_paraphrase_keeps_every_particular():
    rng = random.Random(3)
    line = "I am moving, so I need to have order #W123 shipped to 1 Elm St, Austin, TX 78701 instead."
    values = ["#W123", "1 Elm St", "Austin", "TX", "78701"]  # the order and the address arguments
    seen = {paraphrase_request(line, rng) for _ in range(30)}
    assert len(seen) >= 5
    for said in seen:
        assert conveys(line, said, values), said


def test_a_lines_particulars_are_the_task_values_it_states(scripted):
    """The checker's particulars come from the task's data (intent and gold plan), not from the line's
    shape: a target's id and the user's id are among them wherever a line states them."""
    for rec, _ in scripted["airline"] + scripted["retail"]:
        outline = outline_task(rec)
        for r, part in zip(outline.requests, rec.intent.parts):
            found = outline.particulars(r.line)
            assert all(v in outline.values for v in found)
            named = [t.split(":", 1)[1] for t in part.targets if t.split(":", 1)[1] in r.line]
            assert set(named) <= set(found), (r.line, named, found)
        # who the user is: the lines say some of what identifies them (an id, a name, a zip code)
        assert outline.particulars(" ".join(outline.identity_lines)), outline.identity_lines


def test_a_sentence_after_a_connective_is_lower_cased_unless_it_opens_with_a_name_or_i() -> None:
    from writ_dagster.core.users.phrasing import lower_first

    # "Because I ..." once passed for a name (two capitalised words) and read "On top of that, Because I ..."
    assert lower_first("Because I am visiting family, I have to book a trip.") == "because I am visiting family, I have to book a trip."
    assert lower_first("Since I'm moving, I need to cancel.") == "since I'm moving, I need to cancel."
    assert lower_first("Amelia Martin is coming too.") == "Amelia Martin is coming too."
    assert lower_first("I want to cancel.") == "I want to cancel."
    assert lower_first("Your order is late.") == "your order is late."


def test_the_agent_a_line_names_stays_you_in_the_users_words():
    from writ_dagster.core.users.phrasing import to_first_person

    # "the agent" becomes "you" and no later swap turns it into "me" ("I leave to me to find")
    assert to_first_person("Which item it is, you leave to the agent to find.") == "Which item it is, I leave to you to find."
    assert to_first_person("You let the agent know.") == "I let you know."
    # someone who told the user something told "me", not "I"
    assert to_first_person("your doctor told you not to fly") == "my doctor told me not to fly"
