"""The scripted user simulator: a rule-based customer that plays a :class:`UserScript`.

Not a model. It says only the script's pre-rendered, checked lines: it opens as the script
says (vague, or with one or all of its requests), answers identification questions from its
known facts (slipping once if scripted), gives a request's details when asked, says "yes"
to a proposed action (after correcting a read-back slip if it sees its wrong value), raises
its next request when asked whether there is anything else, and ends with ###STOP###.
It reads the agent's dialogue act from ``raw_data`` when the scripted oracle sent it, and
otherwise classifies the agent's text with a few patterns (best effort).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from writ_dagster.core.domains.pack import identification_words, pack_of
from writ_dagster.core.domains.registry import Domain
from writ_dagster.core.domains.verify import TRANSFER_MESSAGE
from writ_dagster.core.language import formats
from writ_dagster.core.language.pools import shared
from writ_dagster.core.simulation.backends import ScriptedBackend
from writ_dagster.core.simulation.protocol import TRANSFER, ConversationView, Reply
from writ_dagster.core.users.models import UserScript
from writ_dagster.core.users.outline import TaskOutline, outline_task
from writ_dagster.core.users.phrasing import lower_first

# The pools are data: the "scripted_user" section of core/language/phrases.yaml.
_S = shared()

_NOT_FOUND = ("identity_not_found", re.compile(r"couldn't find|could not find|not found|double-check", re.I))
# After these two, in this order: an agent asking for identification (the domain's words, _patterns).
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("propose", re.compile(r"\b(confirm|proceed|go ahead)\b.*\?", re.I | re.S)),
    (
        "refuse",
        re.compile(r"\b(can't|cannot|unable to|not able to|decline)\b.*\b(policy|not allowed|cannot be)", re.I | re.S),
    ),
    ("anything_else", re.compile(r"anything else", re.I)),
    ("ask_request", re.compile(r"(what|how) can I (help|do)", re.I)),
    ("ask_details", re.compile(r"could you (tell|provide|let me know)", re.I)),
]


_ACCEPT: tuple[str, ...] = _S["scripted_user"]["accept"]


_GOT_IT: tuple[str, ...] = _S["scripted_user"]["got_it"]
_LEAVE: tuple[str, ...] = _S["scripted_user"]["leave"]
# Taking a proposed write back; what the user wants instead follows in the same message.
_TAKE_BACK: tuple[str, ...] = _S["scripted_user"]["take_back"]
_THANKS: tuple[str, ...] = _S["scripted_user"]["thanks"]


STATE_KEY = "scripted_user"


@dataclass(slots=True)
class UserState:
    """What the scripted user remembers about one conversation between its turns (kept in the view's
    state dict under :data:`STATE_KEY`)."""

    outline: TaskOutline
    held: set[int]
    """Requests a change of mind asks for instead: said only once the first request is taken back."""
    told: list[int] = field(default_factory=list)
    facts_given: set[int] = field(default_factory=set)
    opened: bool = False
    identity_slipped: bool = False
    corrected: bool = False
    confirms: int = 0
    unknowns: int = 0


@cache
def _patterns(domain: Domain | None) -> list[tuple[str, re.Pattern[str]]]:
    """The acts to try in order; an agent asks for identification when it names any identification detail
    the shared pools or ``domain``'s know of (``identification.fields.<name>.asked``) or asks to verify."""
    words = identification_words(domain) if domain is not None else shared()["identification"]
    asked = [f["asked"] for f in words["fields"].values() if "asked" in f] + list(words["asking"])
    ask = re.compile("|".join(re.escape(w) for w in asked), re.I)
    return [_NOT_FOUND, ("ask_identity", ask), *_PATTERNS]


def classify(text: str, domain: Domain | None = None) -> str:
    """The dialogue act of an agent message without one attached (best effort)."""
    for act, pattern in _patterns(domain):
        if pattern.search(text or ""):
            return act
    return "unknown"


class ScriptedUser(ScriptedBackend):
    """Scripted user backend (no model): ``respond_batch`` answers every view in turn."""

    name = "scripted-user"

    def respond(self, view: ConversationView) -> Reply:
        """One user turn for one conversation."""
        st = view.state.get(STATE_KEY)
        if st is None:
            outline = outline_task(view.record)
            st = view.state[STATE_KEY] = UserState(outline, held={r.index for r in outline.requests if r.instead})
        script: UserScript = view.script
        last = view.messages[-1]
        if not st.opened:
            st.opened = True
            return self._opening(script, st)
        raw = last.raw_data if isinstance(last.raw_data, dict) else {}
        act = raw.get("act") or classify(last.content or "", st.outline.domain)
        return self._answer(script, st, act, raw, last.content or "")

    def _answer(self, script: UserScript, st: UserState, act: str, raw: dict[str, Any], text: str) -> Reply:
        """The reply to the agent's message ``text``, whose dialogue act is ``act``."""
        if act == "ask_identity":
            return self._identity(script, st)
        if act == "identity_not_found":
            return self._reply(
                script.lines.identity_correction or script.lines.identity,
                "identify",
                identity=dict(st.outline.identity),
            )
        if act == "ask_details":
            return self._details(script, st, raw.get("request"))
        if act == "propose":
            k = self._taking_back(st, raw, text)
            if k is not None:
                return self._change_mind(script, st, k)
            return self._confirm(script, st, text)
        if act in ("ask_request", "anything_else"):
            return self._next_request(script, st)
        if act == "transfer" or TRANSFER_MESSAGE in text:
            return self._reply(f"{_THANKS[script.variant % len(_THANKS)]} {TRANSFER}", "transferred")
        if act in ("refuse", "answer", "condition"):
            return self._acknowledge(script, st, act)
        return self._unknown(script, st)

    def _acknowledge(self, script: UserScript, st: UserState, act: str) -> Reply:
        """Take the no (the answer, the unmet condition) as the script says, then go on with what is left."""
        after = self._next_request(script, st)
        acks = {"refuse": _ACCEPT, "answer": _GOT_IT, "condition": _LEAVE}[act]
        ack = acks[(len(st.told) + script.variant) % len(acks)]
        return Reply(content=f"{ack} {after.content}", raw=after.raw)

    def _unknown(self, script: UserScript, st: UserState) -> Reply:
        """A message the user cannot place: raise a request not told yet, then say so, then end."""
        st.unknowns += 1
        if self._untold(script, st) and st.unknowns <= 2:
            return self._next_request(script, st)
        if st.unknowns <= 2:
            return self._reply(script.lines.unknown, "unknown")
        return self._reply(script.lines.closing, "close")

    # -- turns -------------------------------------------------------------------------------
    def _reply(self, text: str, act: str, **payload: Any) -> Reply:
        return Reply(content=text, raw={"act": act, **payload})

    def _untold(self, script: UserScript, st: UserState) -> list[int]:
        return [k for k in script.telling_order if k not in st.told and k not in st.held]

    def _taking_back(self, st: UserState, raw: dict[str, Any], text: str) -> int | None:
        """The told request the agent now proposes and the user will take back, if any."""
        for k in st.told:
            declined = st.outline.requests[k].declined
            if declined is None or k + 1 not in st.held:
                continue
            if "request" in raw or "write" in raw:  # the scripted agent says what it proposes
                if raw.get("request") == k:
                    return k
                continue
            # another agent: the record it names tells
            keys = pack_of(st.outline.domain).target_keys
            if any(str(v) in text for key, v in declined.arguments.items() if key in keys):
                return k
        return None

    def _change_mind(self, script: UserScript, st: UserState, k: int) -> Reply:
        """No to the proposal of request ``k``, and what the user wants instead (request ``k + 1``)."""
        st.held.discard(k + 1)
        lead = _TAKE_BACK[(script.variant + k) % len(_TAKE_BACK)]
        text, payload = self._tell(
            script, st, [k + 1], with_facts=script.dimensions.disclosure != "on_request", lead=lead
        )
        return self._reply(text, "tell", decline=k, **payload)

    def _identity_answer(self, script: UserScript, st: UserState) -> tuple[str, dict[str, str]]:
        ident = dict(st.outline.identity)
        slip = script.slip
        if slip is not None and slip.kind == "identity" and not st.identity_slipped:
            st.identity_slipped = True
            ident[slip.field] = slip.wrong
            return script.lines.identity_slipped or script.lines.identity, ident
        return script.lines.identity, ident

    def _identity(self, script: UserScript, st: UserState) -> Reply:
        text, ident = self._identity_answer(script, st)
        return self._reply(text, "identify", identity=ident)

    def _opening(self, script: UserScript, st: UserState) -> Reply:
        lines, dims = script.lines, script.dimensions
        filler = lines.fillers[0] if lines.fillers else ""
        if dims.opening == "vague":
            return self._reply(" ".join(p for p in (lines.vague, filler) if p), "vague")
        if dims.disclosure == "all_at_once":
            ident_text, ident = self._identity_answer(script, st)
            text, payload = self._tell(script, st, self._untold(script, st), with_facts=True)
            return self._reply(
                " ".join(p for p in (lines.hello, ident_text, text, filler) if p), "tell", identity=ident, **payload
            )
        if dims.disclosure == "progressive":
            text, payload = self._tell(script, st, self._untold(script, st)[:1], with_facts=True)
        else:
            text, payload = self._tell(script, st, self._untold(script, st), with_facts=False)
        return self._reply(" ".join(p for p in (lines.hello, text, filler) if p), "tell", **payload)

    def _tell(
        self, script: UserScript, st: UserState, ks: list[int], with_facts: bool, lead: str = ""
    ) -> tuple[str, dict[str, Any]]:
        lines = script.lines
        first_telling = not st.told
        parts = []
        for k in ks:
            text = lines.requests[k]
            if with_facts and lines.facts[k]:
                text = f"{text} {lines.facts[k]}"
            parts.append(text)
        if len(ks) == 1:
            body = parts[0]
        else:
            body = f"{lines.intro} " + " ".join(f"{lines.connectors[i]}{lower_first(p)}" for i, p in enumerate(parts))
        if first_telling and lines.general_facts:
            body = f"{body} {lines.general_facts}"
        st.told.extend(ks)
        if with_facts:
            st.facts_given.update(ks)
        payload: dict[str, Any] = {"tell": ks, "with_facts": with_facts}
        slip = script.slip
        if slip is not None and slip.kind == "readback" and slip.request in ks and slip.wrong in body:
            payload["slip"] = {"right": slip.right, "wrong": slip.wrong}
        if lead.endswith((",", "and")):
            body = lower_first(body)  # one sentence with its lead-in ("I" and names keep their capital)
        return " ".join(p for p in (lead, body) if p), payload

    def _next_request(self, script: UserScript, st: UserState) -> Reply:
        untold = self._untold(script, st)
        if not untold:
            return self._reply(script.lines.closing, "close")
        dims = script.dimensions
        if not st.told:
            if dims.disclosure == "progressive":
                text, payload = self._tell(script, st, untold[:1], with_facts=True)
            else:
                text, payload = self._tell(script, st, untold, with_facts=dims.disclosure == "all_at_once")
            return self._reply(text, "tell", **payload)
        lead = script.lines.more[(len(st.told) - 1) % len(script.lines.more)]
        text, payload = self._tell(script, st, untold[:1], with_facts=dims.disclosure != "on_request", lead=lead)
        return self._reply(text, "tell", **payload)

    def _details(self, script: UserScript, st: UserState, k: int | None) -> Reply:
        if k is None:  # an agent that did not say which request: the first told one still missing details
            k = next((i for i in st.told if script.lines.facts[i] and i not in st.facts_given), None)
        if k is None or not (0 <= k < len(script.lines.facts)) or not script.lines.facts[k]:
            return self._reply(script.lines.unknown, "details", request=k)
        st.facts_given.add(k)
        text = script.lines.facts[k]
        payload: dict[str, Any] = {"request": k}
        slip = script.slip
        if slip is not None and slip.kind == "readback" and slip.request == k and slip.wrong in text:
            payload["slip"] = {"right": slip.right, "wrong": slip.wrong}
        return self._reply(text, "details", **payload)

    def _confirm(self, script: UserScript, st: UserState, text: str) -> Reply:
        slip = script.slip
        if (
            slip is not None
            and slip.kind == "readback"
            and not st.corrected
            and formats.mentions(text, slip.wrong)
            and script.lines.readback_correction
        ):
            st.corrected = True
            return self._reply(
                script.lines.readback_correction, "correct", slip={"right": slip.right, "wrong": slip.wrong}
            )
        confirm = script.lines.confirm[st.confirms % len(script.lines.confirm)]
        st.confirms += 1
        return self._reply(confirm, "confirm")
