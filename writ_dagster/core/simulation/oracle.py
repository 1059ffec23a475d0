"""The scripted oracle agent: follows the task's gold plan the way a careful agent would.

This is not a model. It knows the gold plan and plays it out under the domain policy:
greet, ask for identification (the details the domain's pack names), make the gold reads
one call per turn, say what it compared and why it chose the record it did (when the
task's gold plan recorded a comparison for the write), list each write's details and wait
for an explicit "yes", make the write, state every amount the task must communicate, and
ask whether anything else is needed. Its words come from :mod:`.phrases`, picked by the
conversation's seed. It acts only on requests and details the user has actually told it (read from the
scripted user's dialogue acts in ``raw_data``, or guessed from plain text for other users).
"""

from __future__ import annotations

import random
import re
from typing import Any

import writ_dagster.core.simulation.phrases as phrases
from writ_dagster.core.domains.pack import identification_words, pack_of
from writ_dagster.core.language import formats
from writ_dagster.core.simulation.backends import ScriptedBackend
from writ_dagster.core.simulation.describe import (
    describe_write,
    details_wanted,
    done_summary,
    figure_sentence,
    subject,
    write_reminder,
)
from writ_dagster.core.simulation.oracle_state import (
    STATE_KEY,
    CallKind,
    OracleState,
    ProposedTakeBack,
    ProposedWrite,
)
from writ_dagster.core.simulation.protocol import ConversationView, RawToolCall, Reply
from writ_dagster.core.tasks.synthesis import derive_seed
from writ_dagster.core.users.outline import TaskOutline, WriteStep, outline_task

MAX_REPROPOSALS = 2
_YES = re.compile(r"\byes\b|\bconfirm|\bgo ahead\b|\bproceed\b", re.I)
_NO = re.compile(r"\bno\b|\bnot\b|\bdon't\b|\bwrong\b", re.I)


def _misread(value: Any, subs: dict[str, str]) -> Any:
    """``value`` with every value the user misstated (``subs``: right -> wrong) as they said it, so the
    read-back shows the slip in whatever form the wording writes it (a date of birth as "April 10, 1996")."""
    if not subs:
        return value
    if isinstance(value, dict):
        return {k: _misread(v, subs) for k, v in value.items()}
    if isinstance(value, list):
        return [_misread(v, subs) for v in value]
    return subs.get(value, value) if isinstance(value, str) else value


def _say(*parts: str) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


class OracleAgent(ScriptedBackend):
    """Scripted oracle agent backend (no model): ``respond_batch`` answers every view in turn."""

    name = "scripted-oracle-agent"

    def respond(self, view: ConversationView) -> Reply:
        """One agent turn for one conversation."""
        st = view.state.get(STATE_KEY)
        if st is None:
            st = view.state[STATE_KEY] = self._init(view)
        self._observe(view, st)
        return self._decide(st)

    # -- state -------------------------------------------------------------------------------
    def _init(self, view: ConversationView) -> OracleState:
        outline = outline_task(view.record)
        return OracleState(
            outline=outline,
            rng=random.Random(derive_seed(view.seed, view.script.script_id, "oracle")),
            comparisons=[list(m.comparisons) for m in view.record.axes.per_write],
            read_cursor={w.ordinal: 0 for w in outline.writes},
        )

    def _observe(self, view: ConversationView, st: OracleState) -> None:
        o = st.outline
        for m in view.messages[st.seen :]:
            if m.role == "tool":
                self._on_tool(o, st, m.content or "", bool(getattr(m, "error", False)))
            elif m.role == "user":
                act = (m.raw_data or {}) if isinstance(m.raw_data, dict) else {}
                if "act" in act:
                    self._on_act(o, st, act)
                else:
                    self._on_text(o, st, m.content or "")
        st.seen = len(view.messages)

    def _on_tool(self, o: TaskOutline, st: OracleState, content: str, error: bool) -> None:
        kind, index = st.last_call or ("", 0)
        if kind == "identity":
            if error:
                st.identity, st.failed_call = "failed", index
            else:
                st.id_cursor += 1
                if st.id_cursor >= len(o.identity_reads):
                    st.identity = "verified"
        elif kind == "read":
            st.read_cursor[index] += 1
        elif kind == "write":
            w = o.writes[index]
            st.done_writes.add(index)
            st.note = _say(st.note, done_summary(o.domain, w.name, w.arguments, content, st.rng))
            st.proposed, st.confirmed = None, False
        elif kind == "trailing":
            st.trailing_cursor += 1
        elif kind == "refusal_read":
            st.refusal_cursor[index] = st.refusal_cursor.get(index, 0) + 1

    def _on_act(self, o: TaskOutline, st: OracleState, act: dict[str, Any]) -> None:
        if act.get("identity"):
            st.id_args = dict(act["identity"])
            if st.identity in ("unknown", "failed"):
                st.identity, st.id_cursor = "claimed", 0
        for k in act.get("tell", []):
            st.told.add(k)
            req = o.requests[k]
            if not act.get("with_facts", True) and req.facts:
                st.facts_pending.add(k)
        if act.get("act") == "details":
            st.facts_pending.discard(act.get("request"))
        slip = act.get("slip")
        if slip and act.get("act") != "correct":
            st.subs[slip["right"]] = slip["wrong"]
        if act.get("act") == "correct" and slip:
            st.subs.pop(slip["right"], None)
            st.proposed, st.confirmed = None, False
            st.correction = True
        if act.get("act") == "confirm" and st.proposed is not None:
            st.confirmed, st.refusals = True, 0
        if act.get("decline") is not None and st.proposed == ProposedTakeBack(act["decline"]):
            self._taken_back(o, st, act["decline"])  # a no to what was proposed (never to another write)

    def _on_text(self, o: TaskOutline, st: OracleState, text: str) -> None:
        """Best-effort reading of a user that is not scripted (an LLM user simulator)."""
        given = {k: v for k, v in o.identity.items() if v in text}
        if given and set(given) == set(o.identity) and st.identity in ("unknown", "failed"):
            st.id_args, st.identity, st.id_cursor = given, "claimed", 0
        p = st.proposed
        taking_back = p.request if isinstance(p, ProposedTakeBack) and p.request in st.told else None
        if taking_back is not None and _NO.search(text):
            self._taken_back(o, st, taking_back)
            st.told.add(taking_back + 1)  # the no says what they want instead
        elif st.proposed is not None and _YES.search(text) and not _NO.search(text):
            st.confirmed = True
        elif not st.told and len(text.split()) > 3:
            st.told.update(range(len(o.requests)))

    # -- decisions ---------------------------------------------------------------------------
    def _decide(self, st: OracleState) -> Reply:
        o = st.outline
        if st.identity != "verified":
            return self._identify(o, st)
        settled = st.done_writes | st.abandoned
        done_requests = {
            r.index
            for r in o.requests
            if all(w in settled for w in r.writes) and (not (r.read_only or r.declined) or r.index in st.refused)
        }
        pending = sorted(st.told - done_requests)
        if not pending:
            return self._between_requests(o, st, all_done=len(done_requests) == len(o.requests))
        k = pending[0]
        if o.requests[k].declined:
            return self._take_back(o, st, k)
        if o.requests[k].read_only:
            return self._refusal(o, st, k)
        return self._write_request(o, st, k, next(o.writes[x] for x in o.requests[k].writes if x not in settled))

    def _identify(self, o: TaskOutline, st: OracleState) -> Reply:
        """Ask who the user is, say that the details found nobody, or make the next identity read."""
        if st.identity == "unknown":
            return self._text(st, self._ask_identity(st, o, bool(st.told)), "ask_identity")
        if st.identity == "failed":
            return self._text(st, self._not_found(o, st), "identity_not_found")
        i = st.id_cursor
        step = o.plan[o.identity_reads[i]]
        args = dict(step.arguments)
        if i == 0:
            args.update({k: v for k, v in st.id_args.items() if k in args})
        return self._call(st, step.name, args, ("identity", i))

    def _between_requests(self, o: TaskOutline, st: OracleState, all_done: bool) -> Reply:
        """Nothing told is left to do: the closing reads and figures once every request is done, else ask
        what the user needs (after what happened, if anything did)."""
        if all_done:
            if st.trailing_cursor < len(o.trailing_reads):
                step = o.plan[o.trailing_reads[st.trailing_cursor]]
                return self._call(st, step.name, step.arguments, ("trailing", 0))
            rng = st.rng
            extra = (
                " ".join(phrases.for_records(rng, formats.money(v)) for v in o.unassigned_figures)
                if not st.closed
                else ""
            )
            st.closed = True
            return self._text(st, _say(self._take_note(st), extra, phrases.anything_else(rng)), "anything_else")
        if not st.done_writes and not st.note:
            named = pack_of(o.domain).identification.name_field
            first = (o.identity.get(named) if named else None) or o.user_id.split("_")[0].capitalize()
            return self._text(st, phrases.account_open(st.rng, first), "ask_request")
        return self._text(st, _say(self._take_note(st), phrases.anything_else(st.rng)), "ask_request")

    def _write_request(self, o: TaskOutline, st: OracleState, k: int, w: WriteStep) -> Reply:
        """Request ``k``'s next write ``w``: its details if still missing, its reads, then propose and make it."""
        if k in st.facts_pending and st.details_asked.get(k, 0) >= 2:
            st.facts_pending.discard(k)  # asked twice already: go on with what the user said
        if k in st.facts_pending:
            return self._ask_details(o, st, k, w)
        cursor = st.read_cursor[w.ordinal]
        if cursor < len(w.reads):
            step = o.plan[w.reads[cursor]]
            return self._call(st, step.name, step.arguments, ("read", w.ordinal))
        proposal = ProposedWrite(w.ordinal)
        if st.proposed != proposal:
            st.proposed, st.confirmed = proposal, False
            return self._text(st, self._proposal(o, st, w), "propose", write=w.ordinal)
        if st.confirmed:
            return self._call(st, w.name, w.arguments, ("write", w.ordinal))
        st.refusals += 1
        if st.refusals > MAX_REPROPOSALS:  # a user who will not confirm: never write without a yes
            st.abandoned.add(w.ordinal)
            st.proposed, st.refusals = None, 0
            return self._text(st, _say(phrases.declined(st.rng), phrases.anything_else(st.rng)), "ask_request")
        return self._text(
            st, _say(phrases.again_intro(st.rng), self._proposal(o, st, w, again=True)), "propose", write=w.ordinal
        )

    def _ask_details(self, o: TaskOutline, st: OracleState, k: int, w: WriteStep) -> Reply:
        """Ask for the details of request ``k`` the user has not given yet."""
        st.details_asked[k] = st.details_asked.get(k, 0) + 1
        note = self._take_note(st)
        rng = st.rng
        lead = phrases.next_topic(rng, subject(o.domain, w.name, w.arguments)) if note else phrases.details_lead(rng)
        question = phrases.details_question(rng, details_wanted(o.domain, w.name, w.arguments))
        return self._text(st, _say(note, lead, question), "ask_details", request=k)

    def _take_back(self, o: TaskOutline, st: OracleState, k: int) -> Reply:
        """A request the user will take back: read what describes it (the first reads of the write that replaces
        it, so they are not made twice), propose it and ask for a yes. It is never made; the user's no
        (:meth:`_taken_back`) settles it."""
        req = o.requests[k]
        st.facts_pending.discard(k)  # its details change nothing: it is proposed, never made
        w = o.writes[o.requests[k + 1].writes[0]]
        cursor = st.read_cursor[w.ordinal]
        if cursor < len(req.reads):
            step = o.plan[req.reads[cursor]]
            return self._call(st, step.name, step.arguments, ("read", w.ordinal))
        assert req.declined is not None
        # Described as any write is; the evidence said with it (what singled the record out) is the next write's.
        # Its act names no write (write=None): no gold write may follow a yes to it.
        shown = w.model_copy(update={"name": req.declined.name, "arguments": req.declined.arguments, "figures": []})
        proposal = ProposedTakeBack(k)
        if st.proposed != proposal:
            st.proposed, st.confirmed = proposal, False
            return self._text(st, self._proposal(o, st, shown), "propose", request=k, write=None)
        st.refusals += 1
        if st.refusals > MAX_REPROPOSALS or st.confirmed:  # never made, whatever the answer
            st.refused.add(k)
            st.proposed, st.confirmed, st.refusals = None, False, 0
            return self._text(st, phrases.anything_else(st.rng), "ask_request")
        return self._text(
            st,
            _say(phrases.again_intro(st.rng), self._proposal(o, st, shown, again=True)),
            "propose",
            request=k,
            write=None,
        )

    def _taken_back(self, o: TaskOutline, st: OracleState, k: int) -> None:
        """The user said no to request ``k`` and asked for the next one instead: settle it, and say so when
        the agent next speaks (its proposal of what replaces it)."""
        st.refused.add(k)
        st.proposed, st.confirmed, st.refusals = None, False, 0
        st.note = _say(st.note, phrases.keep_it(st.rng, o.requests[k].refused_action))
        st.instead = True

    def _refusal(self, o: TaskOutline, st: OracleState, k: int) -> Reply:
        """Read what the policy needs to judge a forbidden request, then decline it with the reason (or,
        for one only a human agent may handle, transfer the user with the reason)."""
        req = o.requests[k]
        st.facts_pending.discard(k)  # nothing more is needed to say no
        cursor = st.refusal_cursor.get(k, 0)
        if cursor < len(req.reads):
            step = o.plan[req.reads[cursor]]
            return self._call(st, step.name, step.arguments, ("refusal_read", k))
        st.refused.add(k)
        rng = st.rng
        if req.condition:  # a condition that does not hold: say the figure and its side, change nothing
            what = subject(o.domain, req.condition.write.name, req.condition.write.arguments)
            return self._text(
                st,
                _say(
                    self._take_note(st),
                    phrases.condition_found(rng, req.condition),
                    phrases.condition_failed(rng, what),
                    phrases.anything_else(rng),
                ),
                "condition",
                request=k,
            )
        if req.answer:  # a question: say what the reads found
            return self._text(
                st,
                _say(self._take_note(st), phrases.answer(rng, req.answer), phrases.anything_else(rng)),
                "answer",
                request=k,
            )
        if req.transfer:  # the transfer call was the last of the reads; the policy's message follows it
            return self._text(
                st,
                _say(self._take_note(st), phrases.transfer(rng, req.refused_action, req.refusal)),
                "transfer",
                request=k,
            )
        return self._text(
            st,
            _say(self._take_note(st), phrases.refuse(rng, req.refused_action, req.refusal), phrases.anything_else(rng)),
            "refuse",
            request=k,
        )

    def _take_note(self, st: OracleState) -> str:
        note, st.note = st.note, ""
        return note

    def _text(self, st: OracleState, text: str, act: str, **extra: Any) -> Reply:
        st.last_call, st.reads_since_text = None, 0
        return Reply(content=text, raw={"act": act, **extra})

    def _call(self, st: OracleState, name: str, args: dict[str, Any], tag: tuple[CallKind, int]) -> Reply:
        st.last_call = tag
        st.reads_since_text += tag[0] in ("read", "identity")
        return Reply(tool_calls=[RawToolCall(name=name, arguments=dict(args))], raw={"act": "tool_call"})

    # -- wording -----------------------------------------------------------------------------
    def _ask_identity(self, st: OracleState, o: TaskOutline, told: bool) -> str:
        ask = identification_words(o.domain)["asks"][pack_of(o.domain).identification.ask]
        return phrases.ask_identity(st.rng, told, ask)

    def _not_found(self, o: TaskOutline, st: OracleState) -> str:
        step = o.plan[o.identity_reads[st.failed_call or 0]]
        return phrases.not_found(st.rng, pack_of(o.domain).lookup_words(step.name, st.id_args))

    def _proposal(self, o: TaskOutline, st: OracleState, w: WriteStep, again: bool = False) -> str:
        rng = st.rng
        desc = describe_write(o.domain, o.user_id, w.name, _misread(w.arguments, st.subs))
        figures = " ".join(figure_sentence(o.domain, w, f, rng) for f in w.figures)
        note = self._take_note(st)
        intro, lead = self._proposal_lead(st, again, note)
        shown = self._evidence(st, w)
        cond = o.requests[w.request].condition
        if cond is not None and cond.holds and w.ordinal not in st.conditioned:
            # The figure and its side of the user's limit come before the write it lets through.
            st.conditioned.add(w.ordinal)
            shown = _say(shown, phrases.condition_found(rng, cond), phrases.condition_met(rng))
        return _say(
            note,
            intro,
            shown,
            f"{lead}: {desc}.",
            figures,
            write_reminder(o.domain, w.name, rng),
            phrases.confirm_request(rng),
        )

    def _proposal_lead(self, st: OracleState, again: bool, note: str) -> tuple[str, str]:
        """How a proposal opens: after a correction, after a request taken back, again, or after what happened."""
        rng = st.rng
        if st.correction:
            st.correction = False
            return phrases.corrected_intro(rng)
        if st.instead:
            st.instead = False
            return "", phrases.instead_lead(rng)
        if again or note:
            return "", phrases.plan_lead(rng, next_one=bool(note) and not again)
        if st.reads_since_text:
            return phrases.after_reads(rng), phrases.plan_lead(rng)
        return phrases.plain_intro(rng), phrases.plan_lead(rng)

    def _evidence(self, st: OracleState, w: WriteStep) -> str:
        """The comparisons behind a write, said once, before its first proposal."""
        if w.ordinal in st.explained:
            return ""
        st.explained.add(w.ordinal)
        found = st.comparisons[w.ordinal] if w.ordinal < len(st.comparisons) else []
        return " ".join(phrases.evidence(st.rng, c) for c in found)
