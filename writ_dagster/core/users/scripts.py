"""Offline, template-based user scripts: many ways for one user to play the same task.

``make_scripts(record, n_variants, seed)`` returns variant 0 (the canonical instruction, as
the synthesizer wrote it) and ``n_variants - 1`` scripted variants that differ in how the
user opens, discloses, orders and words their requests, their persona and tone, and one
small slip they correct. Facts are never changed, only how and when they are told; every
script passes :func:`writ_dagster.core.users.check.check_script` or is simplified until it
does. The same (seed, task) always gives the same scripts.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
import re
from typing import Any

from writ_dagster.core.domains.pack import id_label, pack_of
from writ_dagster.core.domains.wording import wording_of
from writ_dagster.core.language.pools import shared
from writ_dagster.core.tasks.models import TaskRecord
from writ_dagster.core.tasks.synthesis import derive_seed
from writ_dagster.core.users.check import check_script
from writ_dagster.core.users.models import CANONICAL, ScriptDimensions, ScriptLines, Slip, UserScript, conflicts
from writ_dagster.core.users.ordering import reorder_allowed
from writ_dagster.core.users.outline import TaskOutline, leaves, outline_task
from writ_dagster.core.users.paraphrase import paraphrase_facts, paraphrase_identity, paraphrase_request
from writ_dagster.core.users.phrasing import (
    CONNECTOR_STYLES,
    INTROS,
    TONES,
    UNKNOWN,
    VERBOSITY_FILLERS,
    closing,
    confirmations,
    hello,
    identity_fix,
    more_leads,
    to_first_person,
)

# The words are data: the "scripts" section of core/language/phrases.yaml.
_S = shared()

DISCLOSURES = ("all_at_once", "progressive", "on_request")
OPENINGS = ("direct", "vague")
VERBOSITIES = ("terse", "normal", "chatty")
SLIPS = ("none", "identity", "readback")
# How each tone asks for what they want (the checker maps these back to "I want to").
WANT: dict[str, str] = _S["scripts"]["want"]


def make_scripts(record: TaskRecord, n_variants: int, seed: int) -> list[UserScript]:
    """Variant 0 (canonical) plus ``n_variants - 1`` scripted variants of one task, deterministically."""
    if n_variants < 1:
        raise ValueError(f"n_variants must be at least 1, got {n_variants}")
    outline = outline_task(record)
    rng = random.Random(derive_seed(seed, record.task_id, "user-scripts"))
    chosen = [CANONICAL]
    tries = 0
    while len(chosen) < n_variants and tries < 200:
        tries += 1
        dims = ScriptDimensions(
            disclosure=rng.choice(DISCLOSURES),
            opening=rng.choice(OPENINGS),
            tone=rng.choice(sorted(TONES)),
            verbosity=rng.choice(VERBOSITIES),
            order="reordered" if len(outline.requests) > 1 and rng.random() < 0.5 else "gold",
            slip=rng.choice(SLIPS),
        )
        if dims not in chosen and not conflicts(dims):
            chosen.append(dims)
    scripts = []
    for variant, dims in enumerate(chosen):
        # Variant 0 is the canonical instruction: the same for every seed, lines included.
        vrng = random.Random(derive_seed(seed if variant else "canonical", record.task_id, "variant", variant))
        scripts.append(_build_valid(record, outline, variant, dims, seed, vrng))
    return scripts


def _build_valid(
    record: TaskRecord, outline: TaskOutline, variant: int, dims: ScriptDimensions, seed: int, rng: random.Random
) -> UserScript:
    """Build a script; drop the slip, then the reordering, if the checker objects."""
    state = rng.getstate()
    attempts = [
        dims,
        dims.model_copy(update={"slip": "none"}),
        dims.model_copy(update={"slip": "none", "order": "gold"}),
    ]
    problems: list[str] = []
    for attempt in attempts:
        rng.setstate(state)
        script = build_script(record, outline, variant, attempt, seed, rng)
        problems = check_script(record, script)
        if not problems:
            return script
    raise ValueError(f"no valid script for {record.task_id} variant {variant}: {problems}")


def build_script(
    record: TaskRecord, outline: TaskOutline, variant: int, dims: ScriptDimensions, seed: int, rng: random.Random
) -> UserScript:
    """One script with the given dimensions (unchecked; falls back where a dimension cannot apply)."""
    n = len(outline.requests)
    order = list(range(n))
    if dims.order == "reordered":
        order = _pick_order(outline, rng)
        if order == list(range(n)):
            dims = dims.model_copy(update={"order": "gold"})
    slip = None
    if dims.slip == "readback":
        slip = _readback_slip(outline, rng)
        if slip is None:
            dims = dims.model_copy(update={"slip": "identity"})
    if dims.slip == "identity":
        slip = _identity_slip(outline, rng)
        if slip is None:
            dims = dims.model_copy(update={"slip": "none"})
    canonical = variant == 0
    lines = _render_lines(outline, dims, slip, rng)
    if canonical:
        scenario = copy.deepcopy(record.task["user_scenario"])
    else:
        scenario = _scenario(record, outline, dims, order, slip)
    script = UserScript(
        script_id=_script_id(record.task_id, variant, seed),
        task_id=record.task_id,
        domain=record.domain,
        variant=variant,
        seed=seed,
        has_user_script=not canonical,
        dimensions=dims,
        telling_order=order,
        slip=slip,
        user_scenario=scenario,
        lines=lines,
    )
    script.content_hash = script.compute_hash()
    return script


def _script_id(task_id: str, variant: int, seed: int) -> str:
    """Variant 0 is seed-free (it is the canonical instruction); scripted variants carry the seed."""
    if variant == 0:
        return f"{task_id}-u0"
    return f"{task_id}-u{variant}-{derive_seed(seed, task_id, variant) % 16**8:08x}"


def _pick_order(outline: TaskOutline, rng: random.Random) -> list[int]:
    n = len(outline.requests)
    identity = list(range(n))
    if n < 2 or not all(r.by_id for r in outline.requests):
        return identity
    candidates = []
    shuffled = identity[:]
    for _ in range(3):
        rng.shuffle(shuffled)
        if shuffled != identity and shuffled not in candidates:
            candidates.append(shuffled[:])
    candidates.append(identity[::-1])
    for order in candidates:
        if reorder_allowed(outline, order):
            return order
    return identity


# -- slips ---------------------------------------------------------------------------------


def _swap_digits(value: str, rng: random.Random) -> str | None:
    """``value`` with two adjacent, different digits swapped (or one digit bumped)."""
    spots = [
        i for i in range(len(value) - 1) if value[i].isdigit() and value[i + 1].isdigit() and value[i] != value[i + 1]
    ]
    if spots:
        i = rng.choice(spots)
        return value[:i] + value[i + 1] + value[i] + value[i + 2 :]
    digits = [i for i, c in enumerate(value) if c.isdigit()]
    if not digits:
        return None
    i = digits[-1]
    return value[:i] + str((int(value[i]) + 1) % 10) + value[i + 1 :]


def _identity_slip(outline: TaskOutline, rng: random.Random) -> Slip | None:
    """A mistyped identification detail that the lookup will reject (checked on the DB): the first of
    the pack's details that may slip which the user gives."""
    identification = pack_of(outline.domain).identification
    db = outline.domain.base.db
    ident = outline.identity
    for field in identification.fields:
        right = ident.get(field.name)
        if not field.slips or not right:
            continue
        wrong = _swap_digits(right, rng)
        if not wrong or wrong == right:
            continue
        if identification.finds(db, {**ident, field.name: wrong}):
            continue
        return Slip(kind="identity", field=field.name, right=right, wrong=wrong)
    return None


def _shift_date(value: str) -> str:
    day = dt.date.fromisoformat(value)
    return (day + dt.timedelta(days=1 if day.day < 28 else -1)).isoformat()


def _readback_slip(outline: TaskOutline, rng: random.Random) -> Slip | None:
    """A wrong date or zip in a request's telling that the agent will read back before writing."""
    options: list[Slip] = []
    for req in outline.requests:
        told = " ".join([req.text, *req.facts])
        args_text = " ".join(str(v) for o in req.writes for v in leaves(outline.writes[o].arguments))
        for m in re.finditer(r"\b\d{4}-\d{2}-\d{2}\b", told):
            if m.group() in args_text:
                options.append(
                    Slip(
                        kind="readback",
                        field="date of birth",
                        right=m.group(),
                        wrong=_shift_date(m.group()),
                        request=req.index,
                    )
                )
        for m in re.finditer(r"\b[A-Z]{2} (\d{5})\b", told):
            zip_code = m.group(1)
            wrong = _swap_digits(zip_code, rng)
            if zip_code in args_text.split() and wrong and wrong != zip_code:
                options.append(Slip(kind="readback", field="zip code", right=zip_code, wrong=wrong, request=req.index))
    options = [s for s in options if s.wrong not in " ".join(r.text for r in outline.requests)]
    return rng.choice(options) if options else None


# -- what the user says --------------------------------------------------------------------


def _say(line: str, tone: str) -> str:
    return re.sub(r"\bI want to\b", WANT.get(tone, "I want to"), to_first_person(line))


def _render_lines(outline: TaskOutline, dims: ScriptDimensions, slip: Slip | None, rng: random.Random) -> ScriptLines:
    tone = TONES[dims.tone]
    # Words vary per variant (the rng is the variant's); ids, amounts, names and conditions do not.
    requests = [paraphrase_request(to_first_person(r.text), rng) for r in outline.requests]
    facts = [" ".join(paraphrase_facts(_say(x, dims.tone), rng) for x in r.facts) for r in outline.requests]
    identity = " ".join(paraphrase_identity(to_first_person(x), rng) for x in outline.identity_lines)
    slipped = correction = readback = None
    if slip is not None and slip.kind == "identity":
        slipped = identity.replace(slip.right, slip.wrong)
        label = id_label(outline.domain, slip.field)
        correction = f"{rng.choice(tone.oops)} {identity_fix(label, slip.right, rng)}"
    if slip is not None and slip.kind == "readback" and slip.request is not None:
        k = slip.request
        if slip.right in requests[k]:
            requests[k] = requests[k].replace(slip.right, slip.wrong, 1)
        else:
            facts[k] = facts[k].replace(slip.right, slip.wrong, 1)
        readback = (
            f"{rng.choice(tone.oops)} The {slip.field} should be {slip.right}, not {slip.wrong}. "
            "Everything else is right."
        )
    n = len(requests)
    style = rng.choice(CONNECTOR_STYLES)
    connectors = [""] if n == 1 else [f"{style[i % len(style)]}, " for i in range(n)]
    confirm = confirmations(dims.tone, rng)
    fillers = list(VERBOSITY_FILLERS[dims.verbosity])
    rng.shuffle(fillers)
    greeting = "" if dims.verbosity == "terse" else hello(dims.tone, rng)
    return ScriptLines(
        hello=greeting,
        vague=rng.choice(tone.vague).format(things=wording_of(outline.domain).things),
        identity=identity,
        identity_slipped=slipped,
        identity_correction=correction,
        requests=requests,
        facts=facts,
        connectors=connectors,
        more=more_leads(dims.tone, rng),
        confirm=confirm,
        readback_correction=readback,
        closing=f"{closing(dims.tone, rng)} ###STOP###",
        fillers=fillers[:2],
        unknown=rng.choice(UNKNOWN),
        intro=rng.choice(INTROS),
    )


# -- the instruction an LLM user would follow ----------------------------------------------


def _scenario(
    record: TaskRecord, outline: TaskOutline, dims: ScriptDimensions, order: list[int], slip: Slip | None
) -> dict[str, Any]:
    base = record.task["user_scenario"]
    instr = copy.deepcopy(base["instructions"])
    if isinstance(instr, str):
        instr = {"domain": record.domain, "reason_for_call": instr, "task_instructions": ""}
    if order != list(range(len(order))):
        # Whole lines move, so every fact stays beside its request.
        instr["reason_for_call"] = "\n".join(outline.requests[i].line for i in order)
    behaviour = [_DISCLOSURE_TEXT[dims.disclosure]]
    if dims.opening == "vague":
        behaviour.append(
            f"Open the conversation vaguely, saying only that you need help with your "
            f"{wording_of(outline.domain).things}; explain what you need once the agent asks."
        )
    if order != list(range(len(order))):
        behaviour.append("Bring up your requests in the order listed above.")
    if dims.verbosity == "terse":
        behaviour.append("Keep every message short.")
    elif dims.verbosity == "chatty":
        behaviour.append(
            "You are talkative and add small pleasantries, but you never add facts that are not in these instructions."
        )
    if slip is not None and slip.kind == "identity":
        label = id_label(outline.domain, slip.field)
        behaviour.append(
            f"The first time you give your {label}, make a small slip and say {slip.wrong}; when the "
            f"agent cannot find you, apologise and give the correct one, {slip.right}."
        )
    if slip is not None and slip.kind == "readback":
        behaviour.append(
            f"The first time you mention the {slip.field} {slip.right}, accidentally say {slip.wrong} "
            f"instead; when the agent reads the details back, correct it to {slip.right} before "
            "confirming."
        )
    instr["task_instructions"] = "\n".join([instr.get("task_instructions") or "", *behaviour]).strip("\n")
    persona = TONES[dims.tone].persona or base.get("persona")
    return {"persona": persona, "instructions": instr}


_DISCLOSURE_TEXT: dict[str, str] = _S["scripts"]["disclosure_text"]
