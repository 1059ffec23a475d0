"""The tau2 adapter (writ_dagster/core/tau2_adapter.py): its settings are in place before tau2 loads,
it loads only the tau2 module a name needs, each name is tau2's own object, and what type checkers
read of it says the same as what it hands out. That no other module imports tau2 is a house rule,
checked in test_layers.py."""

from __future__ import annotations

import ast
import importlib
import json
import os
import subprocess
import sys

import pytest
from loguru import logger

from writ_dagster.core import tau2_adapter


def test_every_name_is_tau2s_own_object() -> None:
    for ours, (module, theirs) in tau2_adapter._NAMES.items():
        assert getattr(tau2_adapter, ours) is getattr(importlib.import_module(module), theirs), ours
    assert tau2_adapter.AGENT_SYSTEM_PROMPT != tau2_adapter.USER_SYSTEM_PROMPT  # two SYSTEM_PROMPTs, told apart
    with pytest.raises(ImportError):
        exec("from writ_dagster.core.tau2_adapter import NoSuchName", {})


def test_type_checkers_read_the_same_names() -> None:
    """The `if TYPE_CHECKING:` imports declare exactly the names :data:`_NAMES` hands out at run time."""
    tree = ast.parse(open(tau2_adapter.__file__).read())
    block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", None) == "TYPE_CHECKING")
    declared = {alias.asname or alias.name: (node.module, alias.name)
                for node in block.body if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert declared == tau2_adapter._NAMES


def test_settings_come_first_and_only_the_needed_tau2_module_loads() -> None:
    code = (
        "import json, os, sys\n"
        "import writ_dagster.core.tau2_adapter\n"
        "before = sorted(m for m in sys.modules if m.split('.')[0] in ('tau2', 'litellm'))\n"
        "env = os.environ.get('LITELLM_LOCAL_MODEL_COST_MAP')\n"
        "from writ_dagster.core.tau2_adapter import Task\n"
        "print(json.dumps([before, env, Task.__module__, 'tau2.run' in sys.modules, 'litellm' in sys.modules]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    before, setting, task_module, run_loaded, litellm_loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert before == [] and setting == "True"  # the adapter alone loads no tau2, and sets litellm's price map
    assert task_module == "tau2.data_model.tasks"
    assert not run_loaded and not litellm_loaded  # `Task` needs neither tau2's runner nor litellm
    assert "tau2" not in out.stderr  # tau2's import-time warnings are silenced


def test_loading_the_definitions_and_the_cli_imports_no_litellm() -> None:
    # litellm is most of an import of the definitions (every `writ` command and Dagster code server
    # pays it): tau2's agent, user and evaluator modules, which pull it in, load only when a step uses them.
    code = (
        "import sys\n"
        "import writ_dagster.definitions, writ_dagster.cli.run, writ_dagster.cli.dev, writ_dagster.cli.export\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'litellm' or m.startswith('tau2.agent')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_tau2_logs_are_silenced_ours_kept() -> None:
    seen: list[str] = []
    sink = logger.add(lambda message: seen.append(message.record["name"]), level="DEBUG")
    try:
        for name in ("tau2.environment.tool", "writ_dagster.probe"):
            exec("from loguru import logger\nlogger.warning('probe')", {"__name__": name})
    finally:
        logger.remove(sink)
    assert seen == ["writ_dagster.probe"]


def test_import_module_loads_a_domain_module() -> None:
    module = tau2_adapter.import_module("tau2.domains.airline.environment")
    assert callable(module.get_environment) and callable(module.get_tasks)
