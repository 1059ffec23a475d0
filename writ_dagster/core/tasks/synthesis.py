"""The seeded synthesis driver: compose, execute, verify, measure, decontaminate.

Every attempt derives its own RNG from (seed, domain, batch, attempt), so a batch is a
pure function of its configuration and the code: re-running it gives the same rows.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, TypeVar, cast

from writ_dagster.core.domains.pack import BLUEPRINT_LISTS, PartKind, pack_of
from writ_dagster.core.domains.registry import Domain, get_domain
from writ_dagster.core.domains.verify import TRANSFER_MESSAGE, TRANSFER_TOOL, Verifier, gold_messages
from writ_dagster.core.language import formats
from writ_dagster.core.language.pools import pools
from writ_dagster.core.tasks.blueprints import (
    Call,
    ComposeContext,
    Composer,
    Decision,
    Identity,
    Refusal,
    Skip,
)
from writ_dagster.core.tasks.change_of_mind import draw_change_of_mind
from writ_dagster.core.tasks.compose_intent import intent_of
from writ_dagster.core.tasks.composers import get_composer
from writ_dagster.core.tasks.conditions import Conditional, make_conditional
from writ_dagster.core.tasks.decontamination import BaseTaskIndex, build_index, signature
from writ_dagster.core.tasks.instructions import Request, write_instruction
from writ_dagster.core.tasks.intent import ConditionalWrite, TaskIntent
from writ_dagster.core.tasks.measure import measure_axes
from writ_dagster.core.tasks.models import (
    BatchResult,
    Burden,
    Condition,
    Family,
    PlanStep,
    Rejection,
    SynthesisConfig,
    TaskRecord,
    TaskSources,
    TrajectoryType,
)
from writ_dagster.core.tau2_adapter import (
    Action,
    Description,
    EvaluationCriteria,
    RewardType,
    StructuredUserInstructions,
    Task,
    UserScenario,
)
from writ_dagster.core.versioning import code_version, tau2_version


class ImpossibleConfigError(ValueError):
    """A synthesis configuration the domain cannot satisfy."""


class Rejected(Exception):
    """An attempt that did not yield a valid task."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _reject_if(found: tuple[str, str] | None) -> None:
    """Turn a decontamination finding into a rejection."""
    if found is not None:
        raise Rejected(*found)


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed from any parts, stable across processes and Python versions."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def check_config(config: SynthesisConfig, composer: Composer) -> None:
    """Reject settings this domain cannot meet, naming the setting."""
    if config.max_writes > composer.max_writes:
        raise ImpossibleConfigError(
            f"max_writes={config.max_writes} exceeds the {composer.max_writes} write decisions the "
            f"{composer.domain} composer can place in one task"
        )


_T = TypeVar("_T")


@dataclass
class _Draft:
    ttype: TrajectoryType
    user_id: str
    plan: list[PlanStep]
    decisions: list[Decision]
    burdens: list[Burden]
    identity: Identity
    persona: str | None
    words: random.Random
    family: Family = "writes"
    refusals: list[Refusal] = field(default_factory=list)
    condition: Condition | None = None  # a conditional request's branch (its write, if made, is the last)
    declined_reads: int = 0  # a change of mind: reads the agent makes to describe the write taken back

    def told(self) -> list[Decision | Refusal]:
        """What the user asks, in telling order: a refused, transferred or asked part comes last; a write taken
        back comes right before the last write, which is what the user asks for instead."""
        if self.family == "change_of_mind":
            return [*self.decisions[:-1], *self.refusals, *self.decisions[-1:]]
        return [*self.decisions, *self.refusals]

    def requests(self) -> list[Request]:
        """The requests in telling order (see :meth:`told`)."""
        return [x.say for x in self.told()]


@dataclass
class _PlanBuilder:
    """A gold plan as it is composed: each call runs at once on the attempt's DB fork (a failing call rejects
    the attempt), and the parts placed so far."""

    env: Any = field(metadata={"doc": "the domain's tau2 Environment over the fork's DB"})
    ctx: ComposeContext
    kind: Callable[[str], str] = field(metadata={"doc": "a tool's step kind: read, write or generic"})
    steps: list[PlanStep] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    burdens: list[Burden] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    declined_reads: int = 0

    def run(self, call: Call, what: str) -> None:
        """Run ``call`` and add it to the plan; a read already made is left out."""
        name, args = call
        step = PlanStep(name=name, arguments=args, kind=self.kind(name))
        if step.kind == "read" and step.key() in self.ctx.done_reads:
            return
        from writ_dagster.core.tau2_adapter import ToolCall

        msg = self.env.get_response(ToolCall(id=f"p{len(self.steps)}", name=name, arguments=args))
        if msg.error:
            raise Rejected(f"{what} failed", f"{name}: {msg.content}")
        self.steps.append(step)
        if step.kind == "read":
            self.ctx.done_reads.add(step.key())
            self.ctx.reads_since_write += 1
        elif step.kind == "write":
            self.ctx.reads_since_write = 0

    def run_all(self, calls: Sequence[Call], what: str) -> None:
        """Run each of ``calls`` in turn (see :meth:`run`)."""
        for call in calls:
            self.run(call, what)

    def add_write(self, part: Decision) -> None:
        """Make a write decision's write (its reads already run) and record it at the context's burden."""
        self.run(part.write, "gold write")
        self.ctx.used_targets.update(part.targets)
        self.decisions.append(part)
        self.burdens.append(self.ctx.burden)


def _not_made(d: Decision, condition: Condition) -> Refusal:
    """A conditional request whose condition does not hold, as a part without a write."""
    return Refusal(
        reads=d.reads,
        say=d.say,
        action=d.say.action,
        reason="",
        entities=d.entities,
        targets=d.targets,
        unknown=d.unknown,
        communicate=d.communicate,
        condition=condition,
        comparisons=d.comparisons,
    )


class Synthesizer:
    """Synthesizes verified WRIT tasks for one domain."""

    def __init__(self, domain: str | Domain, config: SynthesisConfig, upstream_tasks_dir: str | None = None) -> None:
        self.domain = domain if isinstance(domain, Domain) else get_domain(domain)
        self.config = config
        self.composer = get_composer(self.domain.name)
        self.pack = pack_of(self.domain)
        check_config(config, self.composer)
        self._blueprints = part_blueprints(self.domain.name, self.pack.part_kinds, self.composer)
        self.verifier = Verifier(self.domain)
        self.index: BaseTaskIndex = build_index(self.domain, upstream_tasks_dir, config.avoid_users_of)
        self.kinds = {t.name: t.type.value for t in self.domain.tools.values()}
        self.config_hash = config.content_hash()
        self.code_version = code_version()
        self.tau2_version = tau2_version()
        self._branch: bool | None = None  # the branch the next conditional request takes (None: drawn)

    # -- choices ---------------------------------------------------------------------------
    def _choose_type(self, rng: random.Random) -> TrajectoryType:
        types = [t for t, w in sorted(self.config.type_mix.items()) if w > 0]
        weights = [self.config.type_mix[t] for t in types]
        return cast(TrajectoryType, rng.choices(types, weights)[0])  # SynthesisConfig checks type_mix's keys

    def _choose_writes(self, ttype: TrajectoryType, rng: random.Random) -> int:
        c = self.config
        if ttype == "write-intensive":
            lo, hi = max(c.min_writes, c.write_intensive_min_writes), c.max_writes
        else:
            lo, hi = c.min_writes, max(c.min_writes, min(c.max_writes, c.write_intensive_min_writes - 1, 2))
        return rng.randint(lo, hi)

    def _burden(self, ttype: TrajectoryType, rng: random.Random) -> Burden:
        if ttype == "read-heavy":
            return "high"
        if ttype == "write-intensive":
            return "high" if rng.random() < 0.25 else "low"
        return "low"

    def _choose_family(self, rng: random.Random) -> Family:
        """The attempt's family, from its own RNG so the write-only tasks are the same as without families."""
        if not self._blueprints:  # the domain's pack declares no part kind beyond a plain write
            return "writes"
        x = rng.random()
        for family in ("refusal", "mixed", "transfer", "information", "conditional", "change_of_mind"):
            share = self.config.family_mix.get(family, 0.0) if self._offers(family) else 0.0
            if x < share:
                return family
            x -= share
        return "writes"

    def _offers(self, family: Family) -> bool:
        """Whether this domain's pack declares the part kind ``family`` needs (a mixed task: a refusal)."""
        return family == "writes" or _FAMILY_KINDS[family] in self._blueprints

    # -- one attempt -----------------------------------------------------------------------
    def _compose(self, rng: random.Random, words: random.Random, family: Family = "writes") -> _Draft:
        """One attempt's draft: its user, the gold plan (run on a DB fork as it grows) and its parts."""
        ttype, n_writes = self._shape(rng, family)
        fork = self.domain.base.fork()
        env = self.domain.environment(fork.db)
        user = self.composer.pick_user(fork.db, rng)
        _reject_if(self.index.check_user(user))
        ident = self.composer.identify(fork.db, user, rng, words)
        persona = self.composer.persona(fork.db, user, rng)
        ctx = ComposeContext(
            db=fork.db, rng=rng, words=words, user_id=user, burden="low", min_reads=self.config.read_heavy_min_reads
        )
        plan = _PlanBuilder(env, ctx, self._kind)
        plan.run_all(ident.reads, "identification read")
        self._add_writes(plan, ttype, n_writes, family)
        condition = None
        if family == "conditional":
            condition = self._add_conditional(plan, ttype, rng)
        elif family not in ("writes", "change_of_mind"):
            self._add_refusal(plan, family, user)
        return _Draft(
            ttype,
            user,
            plan.steps,
            plan.decisions,
            plan.burdens,
            ident,
            persona,
            words,
            family,
            plan.refusals,
            condition,
            plan.declined_reads,
        )

    def _shape(self, rng: random.Random, family: Family) -> tuple[TrajectoryType, int]:
        """The attempt's trajectory type and how many write decisions it places before any other part."""
        ttype = self._choose_type(rng)
        n_writes = self._choose_writes(ttype, rng)
        if family in ("refusal", "information"):
            # A refusal or a question alone has no write: a plain ("normal") conversation on the axes.
            return "normal", 0
        if family == "conditional" and n_writes >= self.config.max_writes:
            n_writes -= 1  # room for the conditional request's own write, should the DB let it be made
        return ttype, n_writes

    def _add_writes(self, plan: _PlanBuilder, ttype: TrajectoryType, n_writes: int, family: Family) -> None:
        """The task's write decisions, each after its evidence reads (a follow-up write right after the
        write it follows); a change of mind's last write is what the user asks for instead."""
        ctx = plan.ctx
        while len(plan.decisions) < n_writes:
            ctx.burden = self._burden(ttype, ctx.rng)
            ctx.writes_left = n_writes - len(plan.decisions)
            if family == "change_of_mind" and ctx.writes_left == 1:
                decision = self._add_taken_back(plan, ttype)
            else:
                decision = self._propose_for(ctx, ttype)
            if decision.follow_up is not None and ctx.writes_left < 2:
                raise Rejected("follow-up write beyond the task's writes", decision.write[0])
            # A follow-up write (see Decision.follow_up) is the user's next request, right after this one.
            for part in [decision] + ([decision.follow_up] if decision.follow_up else []):
                plan.run_all(part.reads, "evidence read")
                plan.add_write(part)

    def _add_taken_back(self, plan: _PlanBuilder, ttype: TrajectoryType) -> Decision:
        """A change of mind: the write taken back joins the refusals, and the reads the agent needs to
        describe it lead the evidence of the write asked for instead, which is returned (still to place)."""
        taken_back, decision = self._change_of_mind(plan.ctx, ttype)
        before = len(plan.steps)
        plan.run_all(taken_back.reads, "evidence read")
        plan.declined_reads = len(plan.steps) - before
        plan.refusals.append(taken_back)
        plan.ctx.used_targets.update(taken_back.targets)
        return decision

    def _add_conditional(self, plan: _PlanBuilder, ttype: TrajectoryType, rng: random.Random) -> Condition:
        """The conditional request, last: its reads fix the figure, and its write is made only on the user's
        side of the limit (otherwise it is a part without a write, and the reads are the plan's trailing reads)."""
        cond = self._conditional(plan.ctx, ttype, rng)
        d = cond.decision
        plan.run_all(d.reads, "evidence read")
        if cond.condition.holds:
            plan.add_write(d)
        else:
            plan.refusals.append(_not_made(d, cond.condition))
        return cond.condition

    def _add_refusal(self, plan: _PlanBuilder, family: Family, user: str) -> None:
        """The refused (or transferred, or asked) request, last, so its reads are the plan's trailing reads;
        a transfer ends the conversation, so its call is the plan's last action."""
        refusal = self._refuse(plan.ctx, family)
        plan.run_all(refusal.reads, "refusal read")
        if refusal.transfer:
            summary = sentence("transfer_summary", user=user, action=refusal.action, reason=refusal.reason)
            plan.run((TRANSFER_TOOL, {"summary": summary}), "transfer")
        plan.refusals.append(refusal)

    def _conditional(self, ctx: ComposeContext, ttype: TrajectoryType, rng: random.Random) -> Conditional:
        """A write decision that moves money, made conditional on it (see :mod:`.conditions`)."""
        ctx.burden, ctx.writes_left = self._burden(ttype, rng), 1
        return self._or_low_burden(ctx, ttype, lambda: self._draw_conditional(ctx))

    def _draw_conditional(self, ctx: ComposeContext) -> Conditional:
        blueprints = list(self._blueprints["conditional"])
        ctx.rng.shuffle(blueprints)
        skipped: list[str] = []
        for bp in blueprints:
            try:
                found = make_conditional(bp.propose(ctx), ctx.rng, ctx.words, self._branch)
            except Skip as s:
                skipped.append(f"{bp.name}: {s}")
                continue
            if found is not None:
                return found
            skipped.append(f"{bp.name}: no amount to set a limit on")
        raise Rejected("no conditional request", "; ".join(skipped)[:500])

    def _propose_for(self, ctx: ComposeContext, ttype: TrajectoryType) -> Decision:
        return self._or_low_burden(ctx, ttype, lambda: self._propose(ctx))

    def _change_of_mind(self, ctx: ComposeContext, ttype: TrajectoryType) -> tuple[Refusal, Decision]:
        def draw() -> tuple[Refusal, Decision]:
            try:
                return draw_change_of_mind(ctx, self._blueprints["change_of_mind"], self.pack)
            except Skip as s:
                raise Rejected("no change of mind", str(s)) from None

        return self._or_low_burden(ctx, ttype, draw)

    def _or_low_burden(self, ctx: ComposeContext, ttype: TrajectoryType, draw: Callable[[], _T]) -> _T:
        """``draw()`` at the context's burden; if it is rejected, a write-intensive task tries once more at
        low burden: it needs the writes more than the extra evidence."""
        try:
            return draw()
        except Rejected:
            if ttype != "write-intensive" or ctx.burden == "low":
                raise
            ctx.burden = "low"
            return draw()

    def _refuse(self, ctx: ComposeContext, family: Family) -> Refusal:
        blueprints = list(self._blueprints[_FAMILY_KINDS[family]])
        ctx.rng.shuffle(blueprints)
        skipped: list[str] = []
        for bp in blueprints:
            try:
                return bp.refuse(ctx)
            except Skip as s:
                skipped.append(f"{bp.name}: {s}")
        raise Rejected("no request to refuse", "; ".join(skipped)[:500])

    def _propose(self, ctx: ComposeContext) -> Decision:
        blueprints = list(self.composer.blueprints)
        ctx.rng.shuffle(blueprints)
        # Blueprints that ask to go first for this context do (stable: the shuffle orders the rest).
        blueprints.sort(key=lambda bp: not (getattr(bp, "first", None) and bp.first(ctx)))  # type: ignore[attr-defined]  # an optional hook
        skipped: list[str] = []
        for bp in blueprints:
            try:
                return bp.propose(ctx)
            except Skip as s:
                skipped.append(f"{bp.name}: {s}")
        raise Rejected("no applicable write", "; ".join(skipped)[:500])

    def _kind(self, name: str) -> str:
        kind = self.kinds.get(name)
        if kind is None:
            raise Rejected("unknown tool", name)
        return "read" if kind == "read" else "write" if kind == "write" else "generic"

    # -- assembling and verifying a task ---------------------------------------------------
    def _task(self, task_id: str, d: _Draft) -> tuple[Task, TaskIntent]:
        """The tau2 task of a draft, and its intent."""
        _check_communicated(d)
        instruction = write_instruction(
            d.words,
            d.requests(),
            d.identity.known,
            [u for x in d.decisions for u in x.unknown] + [u for r in d.refusals for u in r.unknown],
            [b for r in d.refusals for b in r.behaviour],
        )
        intent = intent_of(
            d.told(),
            instruction,
            d.identity,
            d.user_id,
            condition=d.condition if d.condition and d.condition.holds else None,
            declined_reads=d.declined_reads,
            payment_methods=self.pack.payment_methods(self.domain, d.user_id),
        )
        task = Task(
            id=task_id,
            description=Description(purpose=_purpose(d), relevant_policies=None, notes=None),
            user_scenario=UserScenario(
                persona=d.persona,
                instructions=StructuredUserInstructions(
                    domain=self.domain.name,
                    reason_for_call=instruction.reason_for_call,
                    known_info=instruction.known_info,
                    unknown_info=instruction.unknown_info,
                    task_instructions=instruction.task_instructions,
                ),
            ),
            evaluation_criteria=_evaluation(task_id, d),
        )
        return task, intent

    def _verify(self, task: Task, d: _Draft):
        run = self.verifier.execute([(s.name, s.arguments) for s in d.plan])
        for step, res in zip(d.plan, run.steps):
            if res.error:
                raise Rejected("gold action error", f"{step.name}: {res.content}")
            if step.kind == "write" and not res.changed:
                raise Rejected("write does not change the DB", step.name)
        closing = closing_message(task)
        messages = gold_messages(task, run, d.identity.opening, closing)
        reward = self.verifier.score(task, messages)
        if reward != 1.0:
            raise Rejected("gold trajectory reward below 1", f"reward={reward}")
        for r in d.refusals:
            if r.declined is not None:
                self._check_taken_back(d, r.declined, run)
        return run

    def _check_taken_back(self, d: _Draft, declined: Call, run) -> None:
        """Making the write the user took back (before the one they asked for instead) must end in another DB,
        or tau2's DB check could not tell an agent that ignored the change of mind."""
        calls = [(s.name, s.arguments) for s in d.plan]
        last = max(i for i, s in enumerate(d.plan) if s.kind == "write")
        both = self.verifier.execute(calls[:last] + [declined] + calls[last:], track_changes=False)
        if both.changes == run.changes:
            raise Rejected("the write taken back changes nothing", declined[0])

    def synthesize(self, partition: str, count: int | None = None) -> BatchResult:
        """Produce ``count`` (default: ``tasks_per_batch``) verified tasks for one batch key."""
        want = self.config.tasks_per_batch if count is None else count
        tasks: list[TaskRecord] = []
        rejections: list[Rejection] = []
        seen: set[Any] = set()
        attempt = 0
        forced: Counter[str] = Counter()
        limit = want * self.config.max_attempts_per_task
        while len(tasks) < want and attempt < limit:
            seed = derive_seed(self.config.seed, self.domain.name, partition, attempt)
            rng = random.Random(seed)
            words = random.Random(derive_seed(seed, "words"))
            task_id = f"writ-{self.domain.name}-{partition}-{len(tasks):04d}"
            family = self._choose_family(random.Random(derive_seed(seed, "family")))
            # A batch's conditional requests take the branch it has fewer of, so a batch holding two has both.
            held = [p.condition.holds for t in tasks for p in t.beyond_writes() if isinstance(p, ConditionalWrite)]
            self._branch = None if held.count(True) == held.count(False) else held.count(True) < held.count(False)
            owed = [f for f in self._owed(tasks, want) if forced[f] < MAX_FORCED]
            if owed and family not in owed and len(owed) >= want - len(tasks):
                family = owed[0]  # the batch's last slots go to what its mix promises (see MIN_PER_BATCH)
                forced[family] += 1
            try:
                draft = self._compose(rng, words, family)
                self._check_type(draft)
                writes = [(s.name, s.arguments) for s in draft.plan if s.kind == "write"]
                _reject_if(
                    self.index.check_writes(
                        writes,
                        [e for x in draft.decisions for e in x.entities]
                        + [e for r in draft.refusals for e in r.entities],
                    )
                )
                task, intent = self._task(task_id, draft)
                run = self._verify(task, draft)
                sig = signature(self.domain, writes)
                hits = self.index.collisions(sig) if sig is not None else []
                if hits:
                    raise Rejected("collides with a τ²-bench base task", ", ".join(hits))
                # the decontamination audit's test: one task per (user, write set) in a batch, whatever
                # else it asks; tasks without writes are told apart by what they refuse
                key = sig if sig is not None else (None, tuple(r.action for r in draft.refusals))
                if key in seen:
                    raise Rejected("duplicate of an earlier task in this batch", draft.user_id)
                seen.add(key)
                tasks.append(self._record(task, intent, draft, run, partition, len(tasks), seed, attempt))
            except Rejected as r:
                rejections.append(Rejection(attempt=attempt, reason=r.reason, detail=r.detail[:300]))
            attempt += 1
        return BatchResult(
            domain=self.domain.name, partition=partition, tasks=tasks, rejections=rejections, attempts=attempt
        )

    def _owed(self, tasks: list[TaskRecord], want: int) -> list[Family]:
        """The families this batch still owes under MIN_PER_BATCH, once per task owed."""
        owed: list[Family] = []
        for family, least in MIN_PER_BATCH.items():
            if self.config.family_mix.get(family, 0.0) > 0 and self._offers(family):
                owed += [family] * max(0, min(least, want) - sum(t.family == family for t in tasks))
        return owed

    def _check_type(self, d: _Draft) -> None:
        c = self.config
        if d.ttype == "write-intensive" and len(d.decisions) < c.write_intensive_min_writes:
            raise Rejected("too few writes for write-intensive", str(len(d.decisions)))

    def _record(
        self, task: Task, intent: TaskIntent, d: _Draft, run, partition: str, index: int, seed: int, attempt: int
    ) -> TaskRecord:
        outputs = [s.content for s in run.steps]
        axes = measure_axes(
            d.plan, outputs, [x.candidates for x in d.decisions], d.burdens, [x.comparisons for x in d.decisions]
        )
        if d.ttype == "read-heavy" and axes.max_reads_before_write < self.config.read_heavy_min_reads:
            raise Rejected(
                "read-heavy task below the evidence target",
                f"{axes.max_reads_before_write} < {self.config.read_heavy_min_reads}",
            )
        entities = sorted(
            {e for x in d.decisions for e in x.entities}
            | {e for r in d.refusals for e in r.entities}
            | {f"users:{d.user_id}"}
        )
        task_json = task.model_dump(mode="json", exclude_none=True)
        body = {
            "task": task_json,
            "type": d.ttype,
            "family": d.family,
            "axes": axes.model_dump(mode="json"),
            "plan": [s.model_dump(mode="json") for s in d.plan],
        }
        import json

        content_hash = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        return TaskRecord(
            task_id=task.id,
            domain=self.domain.name,
            partition=partition,
            index=index,
            trajectory_type=d.ttype,
            user_id=d.user_id,
            task=task_json,
            gold_actions=d.plan,
            axes=axes,
            sources=TaskSources(
                entities=entities,
                seed=seed,
                attempt=attempt,
                config_hash=self.config_hash,
                code_version=self.code_version,
                tau2_version=self.tau2_version,
            ),
            content_hash=content_hash,
            family=d.family,
            intent=intent,
        )


# The part kind each family beyond plain writes needs the domain to declare (a mixed task adds a refusal).
_FAMILY_KINDS: dict[Family, PartKind] = {
    "refusal": "refusal",
    "mixed": "refusal",
    "transfer": "transfer",
    "information": "information",
    "conditional": "conditional",
    "change_of_mind": "change_of_mind",
}


def part_blueprints(domain: str, kinds: frozenset[PartKind], composer: Composer) -> dict[PartKind, list[Any]]:
    """The composer's blueprints of each part kind the domain's pack declares beyond a plain write; a
    declared kind the composer has no blueprints for is an error naming the attribute it lacks."""
    out: dict[PartKind, list[Any]] = {}
    for kind in sorted(kinds - {"write"}):
        found = list(getattr(composer, BLUEPRINT_LISTS[kind], None) or [])
        if not found:
            raise ImpossibleConfigError(
                f"the {domain} pack declares {kind} parts, but its composer has no {BLUEPRINT_LISTS[kind]!r} blueprints"
            )
        out[kind] = found
    return out


# A batch whose mix holds these families has at least this many of each: a share of a few percent leaves
# a 60-task batch without a transfer, or with a single change of mind, too often.
MIN_PER_BATCH: dict[Family, int] = {"transfer": 1, "change_of_mind": 2}
MAX_FORCED = 20  # attempts at a family's owed tasks before the batch gives up on them


CRITERIA = "criteria.yaml"  # the task's own sentences, beside this module


def sentence(key: str, **slots: object) -> str:
    """The sentence at ``key`` of :data:`CRITERIA` (dotted for a nested one: ``assertion.refusal``), its
    ``{slots}`` filled; the file is read once (see :func:`~writ_dagster.core.language.pools.pools`)."""
    found: Any = pools(__package__ or "writ_dagster.core.tasks", CRITERIA)
    for name in key.split("."):
        found = found[name]
    return str(found).format(**slots)


def _part_kind(r: Refusal) -> str:
    """What the agent does with a part beyond plain writes: the key of its sentences in :data:`CRITERIA`."""
    if r.transfer:
        return "transfer"
    if r.answer:
        return "answer"
    if r.condition:
        return "condition"
    return "declined" if r.declined else "refusal"


def _check_communicated(d: _Draft) -> None:
    """A figure the agent is scored on saying must be one the user asks for (or sets a condition on)."""
    for x in d.decisions:
        if x.communicate and not (x.say.ask or x.say.condition):
            raise Rejected("figure to communicate that the user never asks for", x.write[0])


def _purpose(d: _Draft) -> str:
    """The task description's purpose: its type, family, writes and every other part, for its user."""
    parts = "".join(sentence(f"purpose.parts.{_part_kind(r)}", action=r.action, answer=r.answer) for r in d.refusals)
    return (
        sentence("purpose.head", ttype=d.ttype, family=d.family, writes=len(d.decisions))
        + parts
        + (_condition_note(d.condition) if d.condition else "")
        + sentence("purpose.tail", user=d.user_id)
    )


def _nl_assertions(d: _Draft) -> list[str]:
    """What an LLM judge checks: one sentence per part beyond plain writes, and one for a conditional
    request that was made."""
    said = [_assertion(r) for r in d.refusals]
    if d.condition and d.condition.holds:
        said.append(_condition_assertion(d.decisions[-1].say.action, d.condition))
    return said


def _assertion(r: Refusal) -> str:
    """What an LLM judge checks of one part beyond plain writes."""
    kind = _part_kind(r)
    if kind == "condition" and r.condition:
        return _condition_assertion(r.action, r.condition)
    return sentence(f"assertion.{kind}", action=r.action, answer=r.answer, reason=r.reason)


def _communicate(d: _Draft) -> list[str]:
    """The figures the agent must state, each once, in the order the parts give them."""
    return list(
        dict.fromkeys([c for x in d.decisions for c in x.communicate] + [c for r in d.refusals for c in r.communicate])
    )


def _actions(task_id: str, d: _Draft) -> list[Action]:
    """The gold plan as tau2 actions; a transfer's summary is the agent's own words, so only the call itself
    is compared."""
    return [
        Action(
            action_id=f"{task_id}_{i}",
            requestor="assistant",
            name=s.name,
            arguments=s.arguments,
            compare_args=[] if s.name == TRANSFER_TOOL else None,
        )
        for i, s in enumerate(d.plan)
    ]


def _evaluation(task_id: str, d: _Draft) -> EvaluationCriteria:
    """How tau2 scores the task: the DB and the figures said, and for a transfer the actions too (a transfer
    leaves the DB as it was, so the action check is what scores it)."""
    return EvaluationCriteria(
        actions=_actions(task_id, d),
        communicate_info=_communicate(d),
        # Read by an LLM judge only when reward_basis asks for it; the DB check already fails
        # an agent that carries out a refused request.
        nl_assertions=_nl_assertions(d),
        reward_basis=[RewardType.DB, RewardType.COMMUNICATE]
        + ([RewardType.ACTION] if any(r.transfer for r in d.refusals) else []),
    )


def _condition_note(c: Condition) -> str:
    """The purpose's words for a conditional request and the branch the DB took."""
    return sentence(
        f"purpose.condition.{'holds' if c.holds else 'fails'}",
        what=c.what,
        side=sentence(f"side.{c.kind}"),
        limit=formats.money(c.limit),
        figure=formats.money(c.figure),
    )


def _condition_assertion(action: str, c: Condition) -> str:
    """What an LLM judge checks of a conditional request (read only when reward_basis asks for it)."""
    return sentence(
        f"assertion.condition.{'holds' if c.holds else 'fails'}",
        what=c.what,
        figure=formats.money(c.figure),
        action=action,
    )


def closing_message(task: Task) -> str:
    """The assistant's final message in a gold trajectory: states every figure to communicate."""
    info = (task.evaluation_criteria.communicate_info or []) if task.evaluation_criteria else []
    actions = (task.evaluation_criteria.actions or []) if task.evaluation_criteria else []
    figures = "; ".join(info)
    if actions and actions[-1].name == TRANSFER_TOOL:  # the policy's words, right after the transfer call
        return " ".join([*([sentence("closing.records", figures=figures)] if info else []), TRANSFER_MESSAGE])
    return sentence("closing.done_records", figures=figures) if info else sentence("closing.done")


def synthesize_batch(
    domain: str, partition: str, config: SynthesisConfig, upstream_tasks_dir: str | None = None
) -> BatchResult:
    """Synthesize one batch partition of verified tasks (see :class:`Synthesizer`)."""
    return Synthesizer(domain, config, upstream_tasks_dir).synthesize(partition)


def summarize(records: Sequence[TaskRecord]) -> dict[str, Any]:
    """Axis coverage of a set of tasks (the figures the acceptance checks read)."""
    n = len(records)
    if n == 0:
        return {"tasks": 0}
    writes = Counter(r.axes.writes for r in records)
    by_type: dict[str, list[float]] = {}
    for r in records:
        # Evidence per write: the reads a refused request needs after the last write are not any
        # write's evidence (for a write-only plan this is reads_per_write), and a refusal has no write.
        if r.axes.writes:
            by_type.setdefault(r.trajectory_type, []).append(sum(m.reads for m in r.axes.per_write) / r.axes.writes)
    return {
        "tasks": n,
        "write_counts": dict(sorted(writes.items())),
        "share_ge3_writes": round(sum(1 for r in records if r.axes.writes >= 3) / n, 4),
        "share_ge6_reads_before_a_write": round(sum(1 for r in records if r.axes.max_reads_before_write >= 6) / n, 4),
        "mean_reads_per_write_by_type": {t: round(sum(v) / len(v), 3) for t, v in sorted(by_type.items())},
        "types": dict(Counter(r.trajectory_type for r in records)),
        "families": dict(sorted(Counter(r.family for r in records).items())),
        # a request the agent must decline; beside it, any part beyond plain writes (transfer, question, ...)
        "share_with_refusal": round(
            sum(1 for r in records if any(p.kind == "refusal" for p in r.beyond_writes())) / n, 4
        ),
        "share_beyond_writes": round(sum(1 for r in records if r.beyond_writes()) / n, 4),
    }
