"""Domains as folders (issue 18, item 3): all a domain knows lives in its folder and reaches the core
through one protocol, the domain's pack (`writ_dagster/core/domains/pack.py`).

- no module of `writ_dagster/` outside the registered domains' folders names one of their tools, in a
  string or an identifier, nor does a data file there (a phrase pool); the tool names are tau2's own,
  read from each domain's toolkit;
- each WRIT domain brings its pack, declaring part kinds that are the intent's part kinds;
- a test-only domain folder (`tests/todo_domain/`, over tau2's mock domain) adds a part kind the core
  synthesizes for it, with no change to the core.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path
from typing import get_args

import pytest

from writ_dagster.core.domains import registry
from writ_dagster.core.domains.pack import PART_KINDS, DomainPack, pack_of
from writ_dagster.core.domains.registry import WRIT_DOMAINS, get_domain, register_tau2_module
from writ_dagster.core.tasks import composers
from writ_dagster.core.tasks.intent import IntentPart
from writ_dagster.core.tasks.models import SynthesisConfig
from writ_dagster.core.tasks.synthesis import Synthesizer
from writ_dagster.core.tau2_adapter import ToolType

PACKAGE = Path(__file__).resolve().parent.parent / "writ_dagster"

# The one exemption: tau2 types a few tools GENERIC (`transfer_to_human_agents`, `calculate`). Every τ²
# domain has them, telecom included, with the same meaning, so the core may name them (the transfer a
# policy asks for, the calculator the compliance check allows); a domain's own tools are the others.
SHARED_KIND = ToolType.GENERIC


def _user_tools(name: str) -> list[str]:
    """The tools a domain's user holds (telecom's user acts on their own phone); none for most domains."""
    try:
        return [tool.name for tool in get_domain(name).environment().get_user_tools()]
    except Exception:  # noqa: BLE001 - as tau2's own run_task: a domain without user tools raises
        return []


def _domain_tools() -> dict[str, str]:
    """Every tool of a WRIT domain that is the domain's own, the agent's and the user's, with its domain."""
    return {
        tool: name
        for name in WRIT_DOMAINS
        for tool in [t.name for t in get_domain(name).tools.values() if t.type != SHARED_KIND] + _user_tools(name)
    }


def _folders() -> list[Path]:
    """The WRIT domains' own folders (their registered packages)."""
    out = []
    for name in WRIT_DOMAINS:
        package = get_domain(name).package
        assert package is not None, f"{name} is registered without a folder"
        out.append(Path(importlib.import_module(package).__file__ or "").parent)
    return out


def _names_in(source: str, tools: set[str]) -> list[str]:
    """Each place ``source`` names one of ``tools``: in a string (a word of it) or as an identifier
    (a name, an attribute, a definition, an argument, a keyword, an import); as 'line: tool'."""
    words = re.compile(r"\b(" + "|".join(sorted(map(re.escape, tools))) + r")\b")
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        texts: list[str] = []
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += [(node.lineno, m) for m in words.findall(node.value)]
            continue
        if isinstance(node, ast.Name):
            texts = [node.id]
        elif isinstance(node, ast.Attribute):
            texts = [node.attr]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            texts = [node.name]
        elif isinstance(node, ast.arg):
            texts = [node.arg]
        elif isinstance(node, ast.keyword) and node.arg:
            texts = [node.arg]
        elif isinstance(node, ast.alias):
            texts = [node.name.rpartition(".")[2], node.asname or ""]
        found += [(getattr(node, "lineno", 0), t) for t in texts if t in tools]
    return [f"{line}: {tool}" for line, tool in sorted(found)]


def test_the_core_names_no_domain_tool() -> None:
    tools = _domain_tools()
    assert len(tools) >= 20, "the registry's toolkits were not read"
    folders = _folders()
    named = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if any(path.is_relative_to(folder) for folder in folders):
            continue
        if found := _names_in(path.read_text(), set(tools)):
            named[str(path.relative_to(PACKAGE.parent))] = found
    # The language lives in data files too (phrase pools): a word of one of them names a tool just the same.
    words = re.compile(r"\b(" + "|".join(sorted(map(re.escape, tools))) + r")\b")
    for path in sorted(p for p in PACKAGE.rglob("*") if p.suffix in (".yaml", ".yml", ".json", ".toml", ".txt")):
        if not any(path.is_relative_to(folder) for folder in folders):
            if found := sorted(set(words.findall(path.read_text()))):
                named[str(path.relative_to(PACKAGE.parent))] = found
    assert not named, (
        "a domain's tools belong in its folder (core/tasks/<domain>/) and reach the core through its pack "
        f"(core/domains/pack.py); named outside: {named}"
    )


def test_the_exempt_tools_are_every_domains() -> None:
    shared = [{t.name for t in get_domain(d).tools.values() if t.type == SHARED_KIND} for d in WRIT_DOMAINS]
    assert shared[0] and all(s == shared[0] for s in shared), shared


def test_the_tool_check_sees_every_way_of_naming_a_tool() -> None:
    probe = (
        "import cancel_reservation\n"
        "from x import get_order_details as y\n"
        "A = 'cancel_reservation'\n"
        "B = f'call {x} then get_order_details, please'\n"
        "def get_user_details(send_certificate=1):\n"
        "    return obj.book_reservation(calculate=2)\n"
        "class modify_user_address: ...\n"
        "C = 'cancel_reservations' + 'xget_user_details'\n"
    )
    tools = {"cancel_reservation", "get_order_details", "get_user_details", "send_certificate",
             "book_reservation", "calculate", "modify_user_address"}
    assert _names_in(probe, tools) == [
        "1: cancel_reservation", "2: get_order_details", "3: cancel_reservation", "4: get_order_details",
        "5: get_user_details", "5: send_certificate", "6: book_reservation", "6: calculate",
        "7: modify_user_address",
    ]


@pytest.mark.parametrize("name", WRIT_DOMAINS)
def test_each_domain_brings_its_pack(name: str) -> None:
    domain = get_domain(name)
    pack = pack_of(domain)
    assert type(pack) is not DomainPack, f"{name} has no pack.py with PACK in {domain.package}"
    assert "write" in pack.part_kinds and pack.part_kinds <= set(PART_KINDS)
    assert set(pack.take_back) <= {bp.name for bp in composers.get_composer(name).blueprints}
    assert pack.final_tools <= domain.write_tools


def test_the_packs_part_kinds_are_the_intents() -> None:
    kinds = {get_args(model.model_fields["kind"].annotation)[0] for model in get_args(get_args(IntentPart)[0])}
    assert kinds == set(PART_KINDS)


@pytest.fixture
def todo_domain():
    """tests/todo_domain/ registered as the domain "todo" for one test (the registry is the process's)."""
    domain = register_tau2_module("todo", "tau2.domains.mock.environment", package="todo_domain")
    try:
        yield domain
    finally:
        registry._REGISTRY.pop("todo", None)
        composers._CACHE.pop("todo", None)
        composers._FACTORIES.pop("todo", None)


def _synthesize(domain: str) -> list:
    config = SynthesisConfig(tasks_per_batch=8, max_writes=3, write_intensive_min_writes=2,
                             type_mix={"normal": 1.0, "write-intensive": 1.0}, family_mix={"transfer": 0.5})
    return Synthesizer(domain, config).synthesize("b0000").tasks


def test_a_test_only_domain_adds_a_part_kind_without_core_changes(todo_domain) -> None:
    assert pack_of(todo_domain).part_kinds == {"write", "transfer"}
    tasks = _synthesize("todo")
    assert len(tasks) == 8
    transfers = [t for t in tasks if t.family == "transfer"]
    assert transfers and len(transfers) < len(tasks)
    for t in transfers:
        assert [p.kind for p in t.intent.parts][-1] == "transfer"
        assert t.gold_actions[-1].name == "transfer_to_human_agents"
        assert t.intent.parts[-1].declined.startswith("delete task ")


def test_what_a_domain_does_not_declare_it_is_not_asked_for(todo_domain) -> None:
    """The same composer without the pack's declaration (registered for a domain with no folder): its
    transfer blueprints stay unused, as the pack is what tells the core which parts a domain has."""
    from todo_domain.composer import build_composer

    register_tau2_module("todo", "tau2.domains.mock.environment")
    composers.register_composer("todo", build_composer)
    assert pack_of(get_domain("todo")).part_kinds == {"write"}
    assert {t.family for t in _synthesize("todo")} == {"writes"}


def test_a_test_only_domain_declares_its_own_identification(todo_domain) -> None:
    """The to-do users identify themselves by phone number: the pack says so and its folder's phrases.yaml
    has the words; the scripts' slips, the agent's question and the scripted user's reading of a question
    follow it with no change to the core."""
    from writ_dagster.core.simulation.engine import Job, SimulationEngine
    from writ_dagster.core.simulation.oracle import OracleAgent
    from writ_dagster.core.simulation.records import SimulationConfig
    from writ_dagster.core.simulation.scripted_user import ScriptedUser, classify
    from writ_dagster.core.users.scripts import make_scripts

    assert [f.name for f in pack_of(todo_domain).identification.fields] == ["phone_number"]
    tasks = [t for t in _synthesize("todo") if t.family == "writes"]
    assert tasks and all(set(t.intent.identity.knows) == {"phone_number"} for t in tasks)
    scripts = [s for t in tasks for s in make_scripts(t, 8, 0)]
    slips = [s for s in scripts if s.slip is not None and s.slip.kind == "identity"]
    assert slips and {s.slip.field for s in slips} == {"phone_number"}
    for s in slips:
        assert s.slip.right in (s.lines.identity_correction or "")
        assert f"give your phone number, make a small slip and say {s.slip.wrong}" in (
            s.user_scenario["instructions"]["task_instructions"]
        )

    by_id = {t.task_id: t for t in tasks}
    jobs = [Job(by_id[s.task_id], s, seed=0) for s in scripts if s.variant < 3]
    runs = SimulationEngine(OracleAgent(), ScriptedUser(), SimulationConfig()).run_all(jobs)
    asks = [m["content"] for r in runs for m in r.messages if m.get("role") == "assistant" and
            "phone number" in (m.get("content") or "")]
    assert asks and all(a.endswith("?") for a in asks)
    assert not any("user id" in (m.get("content") or "") for r in runs for m in r.messages)
    # An agent that asks in its own words: the phone number is an identification question here only.
    assert classify("What is the phone number on the account?", todo_domain) == "ask_identity"
    assert classify("What is the phone number on the account?", get_domain("airline")) == "unknown"
