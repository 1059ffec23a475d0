"""τ²-bench's own tasks played by the simulated fleet: the evaluation protocol rehearsed without a model.

The fleet's main catalogue holds WRIT's synthesized tasks; this one holds the tasks of a τ² split
(``tau2.run.get_tasks``) of the configured domains, so that the ``evaluation`` stage (τ²'s own
harness: ``LLMAgent`` and ``UserSimulator`` through litellm) can play them against the fleet, the
fleet standing in for the evaluated model (the teacher role) and for the user simulator.

**Which task.** τ²'s harness builds the user simulator's system prompt from the task alone
(``UserSimulator(instructions=str(task.user_scenario)).system_prompt``), so that prompt, computed
here the same way, names the task. The agent's requests open with the domain's ``LLMAgent``
system prompt; the task is then found from the first user message, which is the opening this
module's user says for the task (one per task: tasks whose request reads alike get a detail of
their instructions added, so every opening names one task).

**The user** opens with the task's request (its ``reason_for_call`` and ``known_info``), answers
the agent's confirmation question with a yes, and says τ²'s stop token once the agent closes.

**The evaluated model** replays the task's gold ``evaluation_criteria.actions``, one tool call per
message, asking the user's confirmation before the first write, then says the
``communicate_info`` strings and a closing sentence. Nothing is kept between turns: the step is
the number of agent messages since the opening, so a retry on any replica gets the same reply.

**Errors.** With the fleet's ``teacher.pass_rate`` p, whether a conversation errs is drawn from
the fleet's seed, the task and the request's ``seed`` (:meth:`Tau2Player.errs`: stratified over
each trial's tasks, so pass^1 over whole trials is p to within one task). τ²'s harness sends each
trial's seed in the agent's llm args (``Orchestrator`` calls ``agent.set_seed``), so the trials of
a task draw apart and pass^k falls with k. An erring conversation makes one mistake that τ²'s scoring (DB and
COMMUNICATE) fails: one identifier of a write off by a digit, or a write skipped; without
writes, the information to communicate left out, or (nothing to say either) a stray write: a
write the domain's pack offers (``DomainPack.stray_write``: a travel certificate sent in airline, the
user's address changed in retail).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import writ_dagster.rehearsal.behaviour as bh
from writ_dagster.core.domains.pack import pack_of
from writ_dagster.core.domains.registry import UnknownDomainError, get_domain
from writ_dagster.rehearsal.catalogue import text_hash
from writ_dagster.rehearsal.config import FleetConfig

STOP_TOKEN = "###STOP###"  # tau2.user.base.STOP
CONFIRM_QUESTION = "Shall I go ahead with this?"
CLOSING = "Your request is complete. Is there anything else I can help you with?"
USER_YES = "Yes, please go ahead."
USER_DONE = f"No, that is all. Thank you! {STOP_TOKEN}"
USER_NUDGE = "Could you please continue with my request?"


@dataclass(frozen=True)
class Step:
    """One agent message of the plan: a tool call or a text."""

    call: dict[str, Any] | None = None  # {"name", "arguments"}
    text: str | None = None


@dataclass
class Tau2Task:
    """One τ² task as the fleet plays it."""

    domain: str
    task: Any  # tau2.data_model.tasks.Task
    opening: str
    writes: list[int] = field(default_factory=list)  # indices into the gold actions that are writes

    @property
    def task_id(self) -> str:
        return str(self.task.id)


def _opening(task: Any) -> str:
    ui = task.user_scenario.instructions
    if isinstance(ui, str):
        return ui.strip().splitlines()[0]
    parts = [" ".join(ui.reason_for_call.split())]
    if ui.known_info:
        parts.append(" ".join(ui.known_info.split()))
    return " ".join(parts)


class Tau2Catalogue:
    """The τ² tasks of some domains and one split, indexed by user system prompt and by opening."""

    def __init__(self, domains: list[str], split: str = "base") -> None:
        from writ_dagster.core.tau2_adapter import LLMAgent, UserSimulator, get_tasks, registry

        self.split = split
        self.by_prompt: dict[str, Tau2Task] = {}
        self.by_opening: dict[tuple[str, str], Tau2Task] = {}
        self.agent_prompts: dict[str, str] = {}
        self.stray_db: dict[str, Any] = {}  # domain -> the DB a stray write is drawn from (see DomainPack.stray_write)
        for domain in domains:
            env = registry.get_env_constructor(domain)()
            write_tools = {name for name in env.tools.get_tools() if env.tools.tool_type(name).value == "write"}
            agent = LLMAgent(tools=env.get_tools(), domain_policy=env.get_policy(), llm="simulated")
            self.agent_prompts[text_hash(agent.system_prompt)] = domain
            try:
                user_tools = env.get_user_tools()
            except Exception:  # noqa: BLE001 - as tau2's run_task: a domain without user tools
                user_tools = None
            self.stray_db[domain] = env.tools.db
            tasks = get_tasks(domain, task_split_name=split)
            openings: dict[str, list[Any]] = {}
            for task in tasks:
                openings.setdefault(_opening(task), []).append(task)
            for opening, alike in openings.items():
                for task in alike:
                    text = opening
                    if len(alike) > 1:  # the same request for two tasks: a detail of this one's instructions
                        ui = task.user_scenario.instructions
                        detail = " ".join(str(getattr(ui, "task_instructions", ui)).split()).split(". ")[0]
                        text = f"{opening} ({detail}.)"
                    entry = Tau2Task(
                        domain=domain,
                        task=task,
                        opening=text,
                        writes=[
                            i for i, a in enumerate(task.evaluation_criteria.actions or []) if a.name in write_tools
                        ],
                    )
                    prompt = UserSimulator(tools=user_tools, instructions=str(task.user_scenario)).system_prompt
                    self.by_prompt[text_hash(prompt)] = entry
                    key = (domain, text_hash(text))
                    if key in self.by_opening:
                        raise ValueError(f"{domain}: tasks {self.by_opening[key].task_id} and {task.id} open alike")
                    self.by_opening[key] = entry

    def __len__(self) -> int:
        return len(self.by_prompt)


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def _tokens(messages: list[dict[str, Any]]) -> int:
    return sum(
        bh.approx_tokens(_text(m.get("content"))) + bh.approx_tokens(json.dumps(m.get("tool_calls")))
        if m.get("tool_calls")
        else bh.approx_tokens(_text(m.get("content")))
        for m in messages
    )


def _off_by_a_digit(args: dict[str, Any]) -> dict[str, Any] | None:
    """``args`` with one identifier (a string with digits: an id, a flight number, a date) misread."""
    keys = sorted(k for k, v in args.items() if isinstance(v, str) and any(c.isdigit() for c in v))
    if not keys:
        return None
    key = next((k for k in keys if k.endswith("_id")), keys[0])
    return {**args, key: bh._changed(args[key], 0.0)}


class Tau2Player:
    """Answers the fleet's requests that belong to τ² tasks (``complete`` returns None for the others)."""

    def __init__(self, config: FleetConfig, catalogue: Tau2Catalogue) -> None:
        self.config = config
        self.catalogue = catalogue
        self.counters: dict[str, int] = {}
        self._lock = threading.Lock()
        # Conversations counted once each: a client that resends an opening request (a retry after a
        # dropped keep-alive connection) asks again, but starts no new conversation.
        self._opened: set[tuple[str, str, str]] = set()
        # Each domain's tasks in an order drawn from the fleet's seed: the error draws are spread evenly
        # over it (see :meth:`errs`).
        self.rank: dict[tuple[str, str], tuple[int, int]] = {}
        domains: dict[str, list[Tau2Task]] = {}
        for entry in catalogue.by_prompt.values():
            domains.setdefault(entry.domain, []).append(entry)
        for domain, entries in domains.items():
            ordered = sorted(entries, key=lambda e: (bh.draw(config.seed, "tau2-order", domain, e.task_id), e.task_id))
            for i, e in enumerate(ordered):
                self.rank[(domain, e.task_id)] = (i, len(ordered))

    def errs(self, entry: Tau2Task, seed: Any) -> bool:
        """Whether the evaluated model errs in this conversation (task, trial seed).

        Stratified rather than drawn independently per conversation: one offset per trial seed, shifted by
        the task's place in the drawn order, so that of each trial's N tasks round(N × pass_rate) pass
        (±1) and pass^1 over whole trials is the pass rate to within 1/N; a task's trials (other seeds,
        other offsets) err independently, so pass^k falls as a model's does. A request without a seed
        draws the same for every trial."""
        i, n = self.rank[(entry.domain, entry.task_id)]
        u = (i / n + bh.draw(self.config.seed, "tau2", entry.domain, seed)) % 1.0
        return u >= self.config.teacher.pass_rate

    def _count(self, key: str) -> None:
        with self._lock:
            self.counters[key] = self.counters.get(key, 0) + 1

    def _first_opening(self, entry: Tau2Task, seed: Any) -> bool:
        if not isinstance(seed, int):  # trials without a seed cannot be told apart: each opening counts
            return True
        key = (entry.domain, entry.task_id, repr(seed))
        with self._lock:
            first = key not in self._opened
            self._opened.add(key)
        return first

    def complete(self, request: dict[str, Any]) -> Any:
        """The fleet's :class:`~writ_dagster.rehearsal.dialogue.Answer`, or None if not a τ² conversation."""
        messages = request.get("messages")
        if (
            not isinstance(messages, list)
            or not messages
            or not isinstance(messages[0], dict)
            or messages[0].get("role") != "system"
        ):
            return None
        system = text_hash(_text(messages[0].get("content")))
        entry = self.catalogue.by_prompt.get(system)
        if entry is not None:
            return self._user(entry, messages)
        domain = self.catalogue.agent_prompts.get(system)
        if domain is None:
            return None
        first_user = next((i for i, m in enumerate(messages) if m.get("role") == "user"), None)
        if first_user is None:
            return None
        entry = self.catalogue.by_opening.get((domain, text_hash(_text(messages[first_user].get("content")).strip())))
        if entry is None:
            return None  # a WRIT task's conversation: the main catalogue's
        return self._agent(entry, messages, first_user, request.get("seed"))

    # -- the user simulator ----------------------------------------------------------------
    def _user(self, entry: Tau2Task, messages: list[dict[str, Any]]) -> Any:
        from writ_dagster.rehearsal.dialogue import Answer

        said = sum(1 for m in messages if m.get("role") == "assistant")  # the user's own turns
        last_agent = next((_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        if said == 0:
            content = entry.opening
        elif CLOSING in last_agent:
            content = USER_DONE
        elif CONFIRM_QUESTION in last_agent:
            content = USER_YES
        else:
            content = USER_NUDGE
        self._count("tau2_user")
        return Answer(
            role="user",
            content=content,
            tool_calls=[],
            prompt_tokens=_tokens(messages),
            completion_tokens=bh.approx_tokens(content),
        )

    # -- the evaluated model ---------------------------------------------------------------
    def plan(self, entry: Tau2Task, seed: Any) -> tuple[list[Step], str | None]:
        """The agent's messages for (task, trial seed) and the error made (None: none)."""
        criteria = entry.task.evaluation_criteria
        actions = [(a.name, dict(a.arguments or {})) for a in (criteria.actions or [])]
        infos = [str(i) for i in (criteria.communicate_info or [])]
        errs = self.errs(entry, seed)
        error: str | None = None
        skip: set[int] = set()
        if errs and entry.writes:
            u = bh.draw(self.config.seed, "tau2-kind", entry.domain, entry.task_id, seed)
            w = entry.writes[int(u * len(entry.writes)) % len(entry.writes)]
            changed = _off_by_a_digit(actions[w][1]) if u < 0.5 else None
            if changed is not None:
                actions[w] = (actions[w][0], changed)
                error = f"wrong_argument:{actions[w][0]}"
            else:
                skip.add(w)
                error = f"skipped_write:{actions[w][0]}"
        elif errs and infos:
            infos = []
            error = "missing_info"
        elif errs:
            stray = self._stray_write(entry)
            if stray is not None:
                actions.append(stray)
                error = f"stray_write:{stray[0]}"
        writes = [i for i in entry.writes if i not in skip]
        if error is not None and error.startswith("stray_write"):
            writes.append(len(actions) - 1)
        first_write = min(writes, default=None)
        steps: list[Step] = []
        for i, (name, args) in enumerate(actions):
            if i in skip:
                continue
            if i == first_write:  # a yes before the first write, as the policy asks
                steps.append(
                    Step(text=f"I will now call {name} with {json.dumps(args, sort_keys=True)}. {CONFIRM_QUESTION}")
                )
            steps.append(Step(call={"name": name, "arguments": args}))
        said = f"Here is what you asked about: {'; '.join(infos)}. " if infos else ""
        steps.append(Step(text=said + CLOSING))
        return steps, error

    def _stray_write(self, entry: Tau2Task) -> tuple[str, dict[str, Any]] | None:
        user_id = next(
            (
                a.arguments.get("user_id")
                for a in (entry.task.evaluation_criteria.actions or [])
                if isinstance((a.arguments or {}).get("user_id"), str)
            ),
            None,
        )
        try:
            pack = pack_of(get_domain(entry.domain))
        except UnknownDomainError:
            return None
        return pack.stray_write(self.catalogue.stray_db.get(entry.domain), user_id)

    def _agent(self, entry: Tau2Task, messages: list[dict[str, Any]], first_user: int, seed: Any) -> Any:
        from writ_dagster.rehearsal.dialogue import Answer

        steps, error = self.plan(entry, seed)
        step = sum(1 for m in messages[first_user:] if m.get("role") == "assistant")
        self._count("tau2_agent")
        if step == 0 and not self._first_opening(entry, seed):
            self._count("tau2_repeated_openings")
        elif step == 0:
            self._count("tau2_conversations")
            if not isinstance(seed, int):  # then every trial of a task draws alike: pass^k would equal pass^1
                self._count("tau2_conversations_without_seed")
            self._count(f"tau2_error_{(error or 'none').split(':')[0]}")
        now = steps[min(step, len(steps) - 1)]
        prompt = _tokens(messages)
        if now.call is not None:
            call: dict[str, Any] = {
                "id": f"call_{text_hash(f'{entry.task_id}/{seed}/{step}')[:16]}",
                "type": "function",
                "function": {"name": now.call["name"], "arguments": json.dumps(now.call["arguments"])},
            }
            content, reasoning = bh.render_reasoning(
                self.config.teacher.reasoning, bh.reasoning_text("tool_call", now.call["name"]), None
            )
            return Answer(
                role="agent",
                content=content,
                tool_calls=[call],
                reasoning_content=reasoning,
                prompt_tokens=prompt,
                completion_tokens=bh.approx_tokens(call["function"]["arguments"]) + 8,
                errors=[error] if error else [],
            )
        content, reasoning = bh.render_reasoning(
            self.config.teacher.reasoning, bh.reasoning_text("text", "answer_the_user"), now.text
        )
        return Answer(
            role="agent",
            content=content,
            tool_calls=[],
            reasoning_content=reasoning,
            prompt_tokens=prompt,
            completion_tokens=bh.approx_tokens(now.text),
            errors=[error] if error else [],
        )
