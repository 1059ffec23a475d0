"""The domain registry: tau2's own tool metadata, and new domains added without touching the core."""

from __future__ import annotations

import random
import subprocess
import sys
from typing import Any

import pytest
from tau2.environment.toolkit import ToolType

from writ_dagster.core.domains.registry import WRIT_DOMAINS, get_domain, register_tau2_module
from writ_dagster.core.domains.wording import Wording, wording_of
from writ_dagster.core.evaluation.models import EvalConfig
from writ_dagster.core.tasks.blueprints import ComposeContext, Decision, Identity
from writ_dagster.core.tasks.composers import register_composer
from writ_dagster.core.tasks.instructions import Request
from writ_dagster.core.tasks.models import SynthesisConfig
from writ_dagster.core.tasks.synthesis import Synthesizer
from writ_dagster.partitions import domain_partitions
from writ_dagster.resources.evaluation import EvaluationSettings


@pytest.mark.parametrize("name", ["airline", "retail"])
def test_tools_types_and_schemas_are_tau2s(name: str) -> None:
    domain = get_domain(name)
    env = domain.environment()  # loaded by tau2 from its files
    expected = {t.name: t.openai_schema for t in env.get_tools()}
    assert {n: t.openai_schema for n, t in domain.tools.items()} == expected
    for n, info in domain.tools.items():
        assert info.type == env.tools.tool_type(n)
    assert domain.policy == env.get_policy()
    writes = domain.tool_names(ToolType.WRITE)
    assert len(writes) >= (6 if name == "airline" else 7)
    assert domain.catalogue()["base_tasks"] == len(domain.base_tasks()) > 0


class _CreateTodo:
    """A one-blueprint composer for tau2's mock domain: create a task for the only user."""

    name = "create_todo"
    tool = "create_task"

    def propose(self, ctx: ComposeContext) -> Decision:
        title = f"Call {ctx.rng.choice(['Ann', 'Bo', 'Cy'])} about item {ctx.rng.randint(1, 999)}"
        return Decision(write=("create_task", {"user_id": ctx.user_id, "title": title}), reads=[],
                        candidates=1, say=Request(f"add a to-do titled '{title}'"),
                        targets=[f"todo:{title}"])


class _MockComposer:
    domain = "mock"
    max_writes = 3
    blueprints = [_CreateTodo()]

    def pick_user(self, db: Any, rng: random.Random) -> str:
        return "user_1"

    def identify(self, db: Any, user_id: str, rng: random.Random, words: random.Random) -> Identity:
        return Identity(reads=[("get_users", {})], known=[f"Your user id is {user_id}."], opening="Hi.")

    def persona(self, db: Any, user_id: str, rng: random.Random) -> str | None:
        return None


def test_a_new_domain_plugs_in_without_core_changes() -> None:
    register_tau2_module("mock", "tau2.domains.mock.environment")
    register_composer("mock", _MockComposer)
    config = SynthesisConfig(tasks_per_batch=4, max_writes=3, write_intensive_min_writes=2,
                             type_mix={"normal": 1.0, "write-intensive": 1.0})
    result = Synthesizer("mock", config).synthesize("b0000")
    assert len(result.tasks) == 4
    for rec in result.tasks:
        assert rec.domain == "mock"
        assert [s.name for s in rec.gold_actions if s.kind == "write"] == ["create_task"] * rec.axes.writes


def test_a_new_domain_without_wording_gets_the_generic_sentences() -> None:
    register_tau2_module("mock", "tau2.domains.mock.environment")
    words = wording_of(get_domain("mock"))
    assert type(words) is Wording
    assert words.describe_write("user_1", "create_task", {"title": "x"}) == 'call create_task with title: "x"'


@pytest.mark.parametrize("name", ["airline", "retail"])
def test_every_write_tool_has_its_domains_own_wording(name: str) -> None:
    domain = get_domain(name)
    words = wording_of(domain)
    generic = Wording(domain)
    for tool in sorted(domain.write_tools):
        assert words.describe_write("nobody", tool, {}) != generic.describe_write("nobody", tool, {}), tool
        assert words.done_summary(tool, {}, "") != generic.done_summary(tool, {}, ""), tool


def test_the_registry_is_the_one_list_of_domains() -> None:
    assert WRIT_DOMAINS == ("airline", "retail")
    assert domain_partitions.get_partition_keys() == list(WRIT_DOMAINS)
    assert EvalConfig().domains == list(WRIT_DOMAINS)
    assert EvaluationSettings().domains == list(WRIT_DOMAINS)
    assert all(get_domain(d).part("composer") is not None for d in WRIT_DOMAINS)


def test_asking_for_the_list_of_domains_does_not_import_tau2() -> None:
    code = ("import sys; from writ_dagster.core.keys import WRIT_DOMAINS; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'tau2'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
