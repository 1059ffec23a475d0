"""Copy-on-write forks must be invisible to tau2's tools and exact under tau2's DB hash."""

from __future__ import annotations

import random

import pytest
from tau2.data_model.message import ToolCall

from writ_dagster.core.domains.registry import get_domain
from writ_dagster.core.domains.state import OverlayTable
from writ_dagster.core.tasks.mutations import MUTATIONS, mutate


def test_overlay_table_behaves_like_a_dict() -> None:
    base = {"a": [1], "b": [2]}
    t = OverlayTable(base)
    t["a"].append(9)
    t["c"] = [3]
    del t["b"]
    assert base == {"a": [1], "b": [2]}
    assert dict(t.items()) == {"a": [1, 9], "c": [3]}
    assert len(t) == 2 and "b" not in t and "c" in t
    with pytest.raises(KeyError):
        t["b"]
    assert t.touched() == {"a", "b", "c"}


@pytest.mark.parametrize("domain_name,batch", [("airline", "airline_batch"), ("retail", "retail_batch")])
def test_fork_equality_is_tau2_hash_equality(domain_name: str, batch: str, request: pytest.FixtureRequest) -> None:
    """For gold and broken plans, a fork's state hashes as tau2's fresh replay does."""
    synth, result = request.getfixturevalue(batch)
    domain = get_domain(domain_name)
    rng = random.Random(7)
    plans = []
    for rec in result.tasks[:6]:
        plans.append(rec.gold_actions)
        broken = mutate(rec.gold_actions, MUTATIONS[len(plans) % len(MUTATIONS)], rng)
        if broken:
            plans.append(broken)
    forks, hashes = [], []
    for plan in plans:
        run = synth.verifier.execute([(s.name, s.arguments) for s in plan], track_changes=False)
        env = domain.environment()  # tau2's own way: loaded from file
        for i, s in enumerate(plan):
            env.get_response(ToolCall(id=str(i), name=s.name, arguments=s.arguments))
        assert run.fork.materialize().get_hash() == env.get_db_hash()
        forks.append(run.changes)
        hashes.append(env.get_db_hash())
    for i in range(len(plans)):
        for j in range(i + 1, len(plans)):
            assert (forks[i] == forks[j]) == (hashes[i] == hashes[j])


@pytest.mark.parametrize("domain_name,batch", [("airline", "airline_batch"), ("retail", "retail_batch")])
def test_shared_base_db_is_never_mutated(domain_name: str, batch: str, request: pytest.FixtureRequest) -> None:
    request.getfixturevalue(batch)  # forces many forks and tool calls on the shared DB
    domain = get_domain(domain_name)
    fresh = domain.environment().get_db_hash()
    assert domain.base.hash() == fresh
