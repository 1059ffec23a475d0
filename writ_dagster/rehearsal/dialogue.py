"""The simulated fleet's two roles: OpenAI chat requests in, scripted replies out.

**Which conversation.** A request names no task. The user simulator's request opens with τ²'s
user system prompt, which the catalogue maps to the (task, script) it was built from. The
teacher's request opens with the domain's agent prompt; its first user message is the scripted
user's opening, which the fleet's user role registers when it says it (or the catalogue knows
per script). The conversation *seed* (which words the oracle picks, as in process) is found by
matching the request's per-turn ``seed`` against the seeds the pipeline derives for the
candidate conversations (:class:`~writ_dagster.rehearsal.config.Identify`); the same match
tells apart two scripts that open alike.

**State across turns.** Each request carries the whole history. After a turn the role's state
is kept under a hash of the messages it has seen *plus its own reply*, so the next turn finds
it by the longest matching prefix and consumes it; on a miss (a retry on another replica, an
evicted entry, a restarted fleet) the state is rebuilt by replaying the scripted role over the
history, which is deterministic. Either way a reply depends only on the request's content.

**Dialogue acts.** In process the scripted roles pass their dialogue acts (what a message
*does*: proposes write 2, confirms, gives details of request 1) in ``raw_data``; over HTTP
only text travels. The fleet keeps a side table of the acts of the texts it said itself,
keyed by the visible dialogue up to and including that text, so both scripted roles act as
they do in process; a text the fleet did not say falls back to their text readers. The table
lives in the fleet's memory: a fleet restarted in the middle of a conversation plays that
conversation's later turns through the text readers (a resumed ``writ run`` replays unfinished
conversations from their start, so its rows are not affected).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import writ_dagster.rehearsal.behaviour as bh
from writ_dagster.core.simulation.attempts import attempt_seed
from writ_dagster.core.simulation.oracle import OracleAgent
from writ_dagster.core.simulation.oracle_state import oracle_state
from writ_dagster.core.simulation.protocol import ConversationView, RawToolCall, Reply, Role
from writ_dagster.core.simulation.records import trajectory_id
from writ_dagster.core.simulation.scripted_user import ScriptedUser
from writ_dagster.core.tasks.synthesis import derive_seed
from writ_dagster.rehearsal.catalogue import Catalogue, Entry, text_hash
from writ_dagster.rehearsal.config import FleetConfig, Reasoning

SIDE_TABLE_SIZE = 2_000_000


class NotRecognised(LookupError):
    """The request belongs to no stored conversation the fleet knows (maybe not loaded yet)."""


class BadRequest(ValueError):
    """A request the fleet cannot answer (HTTP 400)."""


@dataclass
class Msg:
    """What the scripted roles read of a τ² message (they read nothing else)."""

    role: str
    content: str | None
    raw_data: dict[str, Any] | None = None
    error: bool = False


@dataclass(frozen=True)
class Identity:
    """The conversation a request belongs to."""

    entry: Entry
    seed: int
    sampling_seed: int | None = None  # the role's sampling seed whose turn seeds matched (None: no match)

    @property
    def label(self) -> str:
        """What the teacher's draws are keyed by: its attempts (conversation seeds) err differently."""
        return f"{self.entry.record.task_id}\x1f{self.entry.script.script_id}\x1f{self.seed}"

    @property
    def script_label(self) -> str:
        """What the user's draws are keyed by: the user's view does not always tell the seed."""
        return f"{self.entry.record.task_id}\x1f{self.entry.script.script_id}"

    def turn_seed(self, role: str, turn: int) -> int | None:
        """The ``seed`` the pipeline sends on this conversation's turn (None: not known)."""
        if self.sampling_seed is None:
            return None
        conv_id = trajectory_id(self.entry.record.task_id, self.entry.script.script_id, self.seed)
        return derive_seed(self.sampling_seed, self.seed, conv_id, role, turn) & 0x7FFFFFFF


@dataclass
class ConvState:
    """One role's state in one conversation: the scripted backend's own dict and the fleet's."""

    identity: Identity
    backend: dict[str, Any] = field(default_factory=dict)
    fleet: dict[str, Any] = field(default_factory=dict)


@dataclass
class Answer:
    """One turn as the fleet answers it (before HTTP shaping)."""

    role: str
    content: str | None
    tool_calls: list[dict[str, Any]]
    reasoning: str | None = None
    reasoning_content: str | None = None
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: list[str] = field(default_factory=list)
    rebuilt: bool = False


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, list):  # OpenAI content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def _args_text(arguments: Any) -> str:
    if isinstance(arguments, str):
        try:
            return json.dumps(json.loads(arguments), sort_keys=True)
        except ValueError:
            return arguments
    return json.dumps(arguments, sort_keys=True)


def canon(message: dict[str, Any]) -> str:
    """A message's canonical text for hashing: role, stripped content, calls, tool call id."""
    calls = [
        [c.get("id"), (c.get("function") or {}).get("name"), _args_text((c.get("function") or {}).get("arguments"))]
        for c in (message.get("tool_calls") or [])
    ]
    return json.dumps(
        [message.get("role"), _text(message.get("content")).strip(), calls, message.get("tool_call_id")],
        ensure_ascii=False,
    )


def chain(messages: list[dict[str, Any]]) -> list[str]:
    """``out[i]``: the hash of ``messages[: i + 1]``."""
    out, h = [], ""
    for m in messages:
        h = hashlib.sha256((h + canon(m)).encode()).hexdigest()[:32]
        out.append(h)
    return out


def _extend(h: str, message: dict[str, Any]) -> str:
    return hashlib.sha256((h + canon(message)).encode()).hexdigest()[:32]


def _say(h: str, speaker: str, text: str) -> str:
    """The dialogue hash after ``speaker`` ("A": agent, "U": user) said ``text``."""
    return hashlib.sha256(f"{h}\x1f{speaker}\x1f{text.strip()}".encode()).hexdigest()[:32]


def _scripted_view(
    ident: Identity, state: ConvState, role: Role, msgs: list[Msg], conv_id: str = ""
) -> ConversationView:
    """The view a scripted backend (the oracle for the teacher, the scripted user) reads for one turn."""
    return ConversationView(
        conv_id=conv_id,
        role=role,
        domain=ident.entry.record.domain,
        record=ident.entry.record,
        task=None,
        script=ident.entry.script,
        seed=ident.seed,
        messages=msgs,
        system_prompt="",
        tools=[],
        state=state.backend,
    )


class Fleet:
    """The two scripted roles with the state both share: catalogue, state cache, side table.

    Not thread-safe: the server calls it from its one event loop (catalogue reloads excepted).
    """

    def __init__(self, config: FleetConfig, catalogue: Catalogue) -> None:
        self.config = config
        self.catalogue = catalogue
        self.states: OrderedDict[str, ConvState] = OrderedDict()
        self.acts: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.openings: dict[str, set[tuple[str, str]]] = {}
        self.counters: dict[str, int] = {}

    # -- bookkeeping -------------------------------------------------------------------------
    def _count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def _keep(self, key: str, state: ConvState) -> None:
        self.states[key] = state
        self.states.move_to_end(key)
        while len(self.states) > self.config.state_cache_size:
            self.states.popitem(last=False)

    def _remember_act(self, key: str, act: dict[str, Any] | None) -> None:
        if not act:
            return
        self.acts[key] = act
        if len(self.acts) > SIDE_TABLE_SIZE:
            self.acts.popitem(last=False)

    # -- identification ----------------------------------------------------------------------
    def _match_seed(self, entries: list[Entry], role: str, turn: int, seed: Any) -> Identity:
        ident = self.config.identify
        if isinstance(seed, int):
            for entry in entries:
                for base in ident.conversation_seeds:
                    for k in range(ident.max_attempts):
                        conv_seed = attempt_seed(base, k)
                        conv_id = trajectory_id(entry.record.task_id, entry.script.script_id, conv_seed)
                        for sampling in ident.sampling_seeds:
                            if derive_seed(sampling, conv_seed, conv_id, role, turn) & 0x7FFFFFFF == seed:
                                return Identity(entry, conv_seed, sampling)
            # Every attempt of a script then looks like its first: they err alike. Say so once.
            self._count("seed_unmatched")
            if self.counters["seed_unmatched"] == 1:
                print(
                    f"writ-simulated-fleet: a {role} request's seed matches none of the conversation seeds "
                    f"{ident.conversation_seeds} (attempts < {ident.max_attempts}) under sampling seeds "
                    f"{ident.sampling_seeds}; set `identify` to the run's simulation.seed and the roles' "
                    "options.seed, or attempts of one script will play alike",
                    file=sys.stderr,
                    flush=True,
                )
        elif len(entries) > 1 or role == "agent":
            self._count("seed_absent")  # e.g. reasoning_model requests: attempts cannot be told apart
        return Identity(entries[0], ident.conversation_seeds[0])

    def identify_user(self, system: str, turn_seed: Any, opening: bool) -> Identity:
        """The conversation of a user-simulator request (raises :class:`NotRecognised`).

        Only the opening's turn index is known from the user's view (tool traffic is left out
        of it), so the seed is matched there; the scripted user's words do not depend on it.
        """
        entries = self.catalogue.for_prompt(system)
        if not entries:
            raise NotRecognised("no stored user script has this user system prompt")
        return self._match_seed(entries, "user", 1, turn_seed if opening else None)

    def identify_teacher(
        self, domain: str, first_user: str, turn: int, turn_seed: Any, use_catalogue: bool
    ) -> Identity:
        """The conversation of a teacher request, from its first user message (and its seed)."""
        keys = set(self.openings.get(text_hash(first_user), set()))
        entries = [self.catalogue.entries[k] for k in sorted(keys) if k in self.catalogue.entries]
        if not entries and use_catalogue:
            entries = self.catalogue.for_opening(first_user)
        entries = [e for e in entries if e.record.domain == domain]
        if not entries:
            raise NotRecognised("no stored user script opens the conversation with this message")
        return self._match_seed(entries, "agent", turn, turn_seed)

    # -- turns -------------------------------------------------------------------------------
    def complete(self, request: dict[str, Any], use_catalogue: bool = False) -> Answer:
        """Answer one chat-completions request (raises :class:`NotRecognised` or :class:`BadRequest`).

        ``use_catalogue``: also compute every stored script's opening to recognise a teacher
        conversation whose opening the fleet's user role did not say (slower; done off the loop).
        """
        messages = request.get("messages")
        if (
            not isinstance(messages, list)
            or not messages
            or not isinstance(messages[0], dict)
            or messages[0].get("role") != "system"
        ):
            raise BadRequest("the fleet needs the conversation's system prompt as the first message")
        system = _text(messages[0].get("content"))
        domain = self.catalogue.domain_of_agent_prompt(system)
        if domain is not None:
            return self._teacher(domain, messages, request, use_catalogue)
        return self._user(system, messages, request)

    def _lookup(self, hashes: list[str], turn_seed: Any = None, turn: int = 0) -> ConvState | None:
        """The state kept under the longest prefix of the request, consumed.

        Two conversations can share a prefix (two attempts of one script whose first turns read
        alike). A teacher state whose turn seeds are known is taken only if the request's seed is
        its conversation's next one; else the state stays for its own conversation and this
        request's state is rebuilt, as it would be on any replica.
        """
        for h in reversed(hashes):
            state = self.states.get(h)
            if state is None:
                continue
            if (
                isinstance(turn_seed, int)
                and state.identity.sampling_seed is not None
                and state.identity.turn_seed("agent", turn) != turn_seed
            ):
                self._count("state_other_conversation")
                break
            del self.states[h]
            self._count("state_hits")
            return state
        self._count("state_misses")
        return None

    # -- the teacher -------------------------------------------------------------------------
    def _teacher(
        self, domain: str, messages: list[dict[str, Any]], request: dict[str, Any], use_catalogue: bool
    ) -> Answer:
        conv = messages[1:]
        hashes = chain(messages)
        state = self._lookup(hashes[1:], request.get("seed"), len(conv))
        rebuilt = state is None
        if state is None:
            first_user = next((_text(m.get("content")) for m in conv if m.get("role") == "user"), None)
            if first_user is None:
                raise BadRequest("a teacher request with no user message")
            state = ConvState(self.identify_teacher(domain, first_user, len(conv), request.get("seed"), use_catalogue))
            # replay the teacher's earlier turns (the greeting at 0 is not one)
            for j, m in enumerate(conv):
                if j > 0 and m.get("role") == "assistant":
                    self._teacher_turn(state, conv[:j], hashes[j])
        _, content, calls, act, errors = self._teacher_turn(state, conv, hashes[-1])
        answer = Answer(role="agent", content=content, tool_calls=calls, errors=errors, rebuilt=rebuilt)
        said = {"role": "assistant", "content": content, "tool_calls": calls or None}
        behaviour = self.config.teacher
        u = bh.draw(self.config.seed, state.identity.label, hashes[-1], "cut")
        self._shape(
            answer,
            request,
            messages,
            behaviour.reasoning,
            behaviour.truncation_rate,
            u,
            bh.reasoning_text(
                "tool_call" if calls else "text",
                calls[0]["function"]["name"] if calls else (act or {}).get("act", "reply"),
            ),
        )
        if answer.finish_reason == "stop":
            self._keep(_extend(hashes[-1], said), state)
        return answer

    def _teacher_turn(
        self,
        state: ConvState,
        conv: list[dict[str, Any]],
        prefix: str,
    ) -> tuple[Reply, str | None, list[dict[str, Any]], dict[str, Any] | None, list[str]]:
        """One oracle turn on ``conv`` (the messages after the system prompt), errors applied."""
        ident = state.identity
        msgs: list[Msg] = []
        d = ""
        for m in conv:
            role = m.get("role")
            text = _text(m.get("content"))
            if role == "user":
                d = _say(d, "U", text)
                msgs.append(Msg("user", text, raw_data=self.acts.get(d)))
            elif role == "tool":
                msgs.append(Msg("tool", text, error=text.startswith("Error:")))
            else:
                if role == "assistant" and not m.get("tool_calls") and text.strip():
                    d = _say(d, "A", text)
                msgs.append(Msg(str(role), text or None))
        conv_id = trajectory_id(ident.entry.record.task_id, ident.entry.script.script_id, ident.seed)
        view = _scripted_view(ident, state, "agent", msgs, conv_id)
        try:
            reply = OracleAgent().respond(view)
        except Exception as exc:  # a history the oracle cannot follow (after an injected error)
            self._count("oracle_confused")
            reply = Reply(
                content="I'm sorry, I could not complete that. Is there anything else I can help with?",
                raw={"act": "anything_else", "confused": type(exc).__name__},
            )
        reply, errors = self._err(state, reply, prefix)
        n_calls = sum(1 for m in conv if m.get("role") == "tool")
        calls = [
            {
                "id": f"call_{n_calls + i}",
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
            }
            for i, c in enumerate(reply.tool_calls)
        ]
        content = reply.content if not calls else None
        act = reply.raw if isinstance(reply.raw, dict) else None
        if content:
            self._remember_act(_say(d, "A", content), act)
        return reply, content, calls, act, errors

    def _err(self, state: ConvState, reply: Reply, prefix: str) -> tuple[Reply, list[str]]:
        """The teacher's errors (see :mod:`.behaviour`) applied to the oracle's reply."""
        if self.config.teacher.pass_rate >= 1.0:
            return reply, []
        self._plan_errors(state)
        # at most one error about a write per turn: the first that applies replaces the reply
        wrong = self._write_too_early(state, reply, prefix) or self._wrong_write_call(state, reply, prefix)
        if wrong is not None:
            return wrong
        return self._withhold_figures(state, reply, prefix)

    def _plan_errors(self, state: ConvState) -> None:
        """The conversation's error opportunities and per-opportunity pass rate, set on first use."""
        fs = state.fleet
        if "p" in fs:
            return
        cfg = self.config.teacher
        outline = oracle_state(state.backend).outline
        figures = list(self._figures(state.identity.entry)) if cfg.errors.missing_figure > 0 else []
        writes = len(outline.writes) if any(getattr(cfg.errors, k) > 0 for k in bh.WRITE_KINDS) else 0
        p = bh.per_opportunity(cfg.pass_rate, writes + len(figures))
        fs.update(p=p, figures=figures, decided=set(), bad={}, withheld=set(), said=set())

    def _write_too_early(self, state: ConvState, reply: Reply, prefix: str) -> tuple[Reply, list[str]] | None:
        """Decides, once per write when the oracle proposes it, whether the teacher gets it wrong;
        the 'write_before_yes' error makes the call at once, in place of the proposal."""
        fs = state.fleet
        cfg = self.config.teacher
        act = reply.raw if isinstance(reply.raw, dict) else {}
        if act.get("act") != "propose" or act.get("write") is None or act["write"] in fs["decided"]:
            return None
        w = act["write"]
        fs["decided"].add(w)
        label = state.identity.label
        if bh.draw(self.config.seed, label, prefix, "write") >= bh.write_error_rate(fs["p"], cfg.errors):
            return None
        kind = bh.pick_write_kind(bh.draw(self.config.seed, label, prefix, "kind"), cfg.errors)
        fs["bad"][w] = kind
        if kind != "write_before_yes":
            return None
        ost = oracle_state(state.backend)
        step = ost.outline.writes[w]
        # the oracle goes on as if its write had been proposed, confirmed and made
        ost.last_call, ost.proposed, ost.confirmed = ("write", w), None, False
        return Reply(
            tool_calls=[RawToolCall(step.name, dict(step.arguments))],
            raw={"act": "tool_call", "fleet_error": kind},
        ), [kind]

    def _wrong_write_call(self, state: ConvState, reply: Reply, prefix: str) -> tuple[Reply, list[str]] | None:
        """A write the teacher was decided to get wrong, called with a wrong argument (alone or after
        the right call), the first time the oracle makes it."""
        fs = state.fleet
        last_call = oracle_state(state.backend).last_call if reply.tool_calls else None  # tool calls: it has played
        if last_call is None or last_call[0] != "write":
            return None
        w = last_call[1]
        kind = fs["bad"].get(w)
        if kind not in ("wrong_argument", "two_calls") or w in fs["said"]:
            return None
        fs["said"].add(w)
        call = reply.tool_calls[0]
        assert isinstance(call.arguments, dict)  # the oracle's calls carry their arguments parsed
        wrong = bh.wrong_arguments(dict(call.arguments), bh.draw(self.config.seed, state.identity.label, prefix, "arg"))
        if kind == "wrong_argument":
            calls = [RawToolCall(call.name, wrong)]
        else:
            calls = [RawToolCall(call.name, dict(call.arguments)), RawToolCall(call.name, wrong)]
        return Reply(tool_calls=calls, raw={"act": "tool_call", "fleet_error": kind}), [kind]

    def _withhold_figures(self, state: ConvState, reply: Reply, prefix: str) -> tuple[Reply, list[str]]:
        """The reply with every figure the teacher leaves out removed (each decided on the first
        message that states it); the 'missing_figure' errors it made."""
        errors: list[str] = []
        if not reply.content:
            return reply, errors
        fs = state.fleet
        text = reply.content
        for f in fs["figures"]:
            if f in fs["withheld"] or f in fs["said"] or not bh.says_figure(text, f):
                continue
            fs["said"].add(f)  # its one opportunity: the first message that states it
            if bh.draw(self.config.seed, state.identity.label, prefix, "figure", f) < bh.figure_error_rate(fs["p"]):
                fs["withheld"].add(f)
                errors.append("missing_figure")
        if fs["withheld"]:
            text = bh.withhold(text, fs["withheld"])
        if text != reply.content:
            return Reply(content=text, raw=reply.raw), errors
        return reply, errors

    def _figures(self, entry: Entry) -> list[str]:
        criteria = (entry.record.task or {}).get("evaluation_criteria") or {}
        return [str(f) for f in (criteria.get("communicate_info") or []) if str(f).strip()]

    # -- the user simulator ------------------------------------------------------------------
    def _user(self, system: str, messages: list[dict[str, Any]], request: dict[str, Any]) -> Answer:
        conv = messages[1:]
        hashes = chain(messages)
        state = self._lookup(hashes[1:])
        rebuilt = state is None
        if state is None:
            opening = not any(m.get("role") == "assistant" for m in conv)
            state = ConvState(self.identify_user(system, request.get("seed"), opening))
            for j, m in enumerate(conv):
                if m.get("role") == "assistant":
                    self._user_turn(state, conv[:j])
        content, act = self._user_turn(state, conv)
        answer = Answer(role="user", content=content, tool_calls=[], rebuilt=rebuilt)
        u = bh.draw(self.config.seed, state.identity.script_label, hashes[-1], "cut")
        self._shape(
            answer,
            request,
            messages,
            self.config.user.reasoning,
            self.config.user.truncation_rate,
            u,
            bh.reasoning_text("user", (act or {}).get("act", "reply")),
        )
        if answer.finish_reason == "stop":
            self._keep(_extend(hashes[-1], {"role": "assistant", "content": content}), state)
        return answer

    def _user_turn(self, state: ConvState, conv: list[dict[str, Any]]) -> tuple[str, dict[str, Any] | None]:
        ident = state.identity
        msgs: list[Msg] = []
        d = ""
        for m in conv:  # flipped: "user" is the agent speaking, "assistant" the user
            text = _text(m.get("content"))
            if m.get("role") == "user":
                d = _say(d, "A", text)
                msgs.append(Msg("assistant", text, raw_data=self.acts.get(d)))
            else:
                d = _say(d, "U", text)
                msgs.append(Msg("user", text))
        view = _scripted_view(ident, state, "user", msgs)
        reply = ScriptedUser().respond(view)
        content = reply.content or ""
        act = reply.raw if isinstance(reply.raw, dict) else None
        self._remember_act(_say(d, "U", content), act)
        if len(msgs) <= 1:  # the opening: lets the teacher recognise the conversation
            self.openings.setdefault(text_hash(content), set()).add(ident.entry.key)
        return content, act

    # -- shaping -----------------------------------------------------------------------------
    def _shape(
        self,
        answer: Answer,
        request: dict[str, Any],
        messages: list[dict[str, Any]],
        reasoning: Reasoning,
        truncation_rate: float,
        u: float,
        thought: str,
    ) -> None:
        """Reasoning, truncation (configured rate or the request's token limit) and token counts."""
        content, answer.reasoning_content = bh.render_reasoning(reasoning, thought, answer.content)
        answer.reasoning = thought if reasoning != "none" else None
        out_text = (
            (content or "")
            + (answer.reasoning_content or "")
            + "".join(c["function"]["name"] + c["function"]["arguments"] for c in answer.tool_calls)
        )
        completion = bh.approx_tokens(out_text)
        limit = request.get("max_completion_tokens") or request.get("max_tokens")
        cut = u < truncation_rate
        if isinstance(limit, int) and limit > 0 and completion > limit:
            cut = True
        if cut:
            self._count("truncations")
            text = bh.truncate(content, answer.tool_calls)
            if isinstance(limit, int) and limit > 0:
                text = text[: limit * 4]
            content, answer.tool_calls, answer.reasoning_content = text, [], None
            answer.finish_reason = "length"
            completion = (
                min(bh.approx_tokens(text), limit) if isinstance(limit, int) and limit > 0 else bh.approx_tokens(text)
            )
        answer.content = content
        answer.completion_tokens = max(1, completion)
        answer.prompt_tokens = prompt_tokens(messages, request.get("tools"))
        for kind in answer.errors:
            self._count(f"error:{kind}")


def prompt_tokens(messages: list[dict[str, Any]], tools: Any) -> int:
    """The fleet's prompt token count: message text, call arguments and the tools' JSON, chars/4."""
    n = 0
    for m in messages:
        n += len(_text(m.get("content")))
        for c in m.get("tool_calls") or []:
            fn = c.get("function") or {}
            n += len(str(fn.get("name", ""))) + len(str(fn.get("arguments", "")))
    if tools:
        n += len(json.dumps(tools))
    return math.ceil(n / 4)
