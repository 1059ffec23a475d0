"""The to-do domain's composer: add a to-do (a write), or ask to delete one (only a human may: a transfer)."""

from __future__ import annotations

import random
from typing import Any

from writ_dagster.core.tasks.blueprints import ComposeContext, Decision, Identity, Refusal, Skip
from writ_dagster.core.tasks.instructions import Request


class CreateTodo:
    name = "create_todo"
    tool = "create_task"

    def propose(self, ctx: ComposeContext) -> Decision:
        title = f"Call {ctx.rng.choice(['Ann', 'Bo', 'Cy'])} about item {ctx.rng.randint(1, 999)}"
        return Decision(write=("create_task", {"user_id": ctx.user_id, "title": title}), reads=[],
                        candidates=1, say=Request(f"add a to-do titled '{title}'"), targets=[f"todo:{title}"])


class DeleteTodo:
    """The mock policy: no agent deletes a task; it transfers the user to a human agent."""

    name = "delete_todo"

    def refuse(self, ctx: ComposeContext) -> Refusal:
        tasks = sorted(ctx.db.users[ctx.user_id].tasks)
        if not tasks:
            raise Skip("no task to delete")
        task_id = ctx.rng.choice(tasks)
        return Refusal(reads=[], say=Request(f"delete task {task_id}"), action=f"delete task {task_id}",
                       reason="the policy lets no agent delete a task", transfer=True,
                       entities=[f"tasks:{task_id}"], targets=[f"tasks:{task_id}"])


class TodoComposer:
    domain = "todo"
    max_writes = 3
    blueprints = [CreateTodo()]
    transfers = [DeleteTodo()]

    def pick_user(self, db: Any, rng: random.Random) -> str:
        return "user_1"

    def identify(self, db: Any, user_id: str, rng: random.Random, words: random.Random) -> Identity:
        phone = f"555-01{sorted(db.users).index(user_id) + 42:02d}"  # the mock DB has no phones: one per user
        return Identity(reads=[("get_users", {})], known=[f"Your phone number is {phone}."], opening="Hi.",
                        knows={"phone_number": phone})

    def persona(self, db: Any, user_id: str, rng: random.Random) -> str | None:
        return None


def build_composer() -> TodoComposer:
    return TodoComposer()
