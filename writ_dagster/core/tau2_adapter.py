"""The one door to τ²-bench: no other module of writ_dagster imports ``tau2``; they import tau2's
names from here (``from writ_dagster.core.tau2_adapter import Task``), and a domain's tau2
module through :func:`import_module`. ``tests/test_layers.py`` checks it.

Two process-wide settings must be in place before tau2 is imported, and this module applies
them when it is itself imported, so whatever comes through it finds them set: importing tau2
pulls in litellm, which otherwise fetches a model price map from the network at import time
(``LITELLM_LOCAL_MODEL_COST_MAP``); and tau2 logs through loguru on import and on every tool
call, which costs more than the calls themselves (silenced for ``tau2``, ours kept).

Importing this module stays cheap: a name is looked up in its tau2 module on first use (a
module ``__getattr__``, PEP 562), so a module that needs only ``Task`` loads only
``tau2.data_model.tasks``, and code that imports the adapter inside a function loads tau2
only when it runs. The names on offer are those in :data:`_NAMES`; the ``TYPE_CHECKING``
block below declares the same imports for type checkers (a test keeps the two equal). Two of
tau2's names are renamed here: the agent's and the user simulator's ``SYSTEM_PROMPT``.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import TYPE_CHECKING, Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from loguru import logger  # noqa: E402

logger.disable("tau2")

if TYPE_CHECKING:
    from tau2.agent.llm_agent import (
        AGENT_INSTRUCTION as AGENT_INSTRUCTION,
    )
    from tau2.agent.llm_agent import (
        SYSTEM_PROMPT as AGENT_SYSTEM_PROMPT,  # noqa: F401  (offered under a name of our own)
    )
    from tau2.agent.llm_agent import (
        LLMAgent as LLMAgent,
    )
    from tau2.data_model.message import (
        AssistantMessage as AssistantMessage,
    )
    from tau2.data_model.message import (
        Message as Message,
    )
    from tau2.data_model.message import (
        SystemMessage as SystemMessage,
    )
    from tau2.data_model.message import (
        ToolCall as ToolCall,
    )
    from tau2.data_model.message import (
        ToolMessage as ToolMessage,
    )
    from tau2.data_model.message import (
        UserMessage as UserMessage,
    )
    from tau2.data_model.simulation import (
        AgentInfo as AgentInfo,
    )
    from tau2.data_model.simulation import (
        Info as Info,
    )
    from tau2.data_model.simulation import (
        Results as Results,
    )
    from tau2.data_model.simulation import (
        RewardInfo as RewardInfo,
    )
    from tau2.data_model.simulation import (
        SimulationRun as SimulationRun,
    )
    from tau2.data_model.simulation import (
        TerminationReason as TerminationReason,
    )
    from tau2.data_model.simulation import (
        UserInfo as UserInfo,
    )
    from tau2.data_model.tasks import (
        Action as Action,
    )
    from tau2.data_model.tasks import (
        Description as Description,
    )
    from tau2.data_model.tasks import (
        EvaluationCriteria as EvaluationCriteria,
    )
    from tau2.data_model.tasks import (
        RewardType as RewardType,
    )
    from tau2.data_model.tasks import (
        StructuredUserInstructions as StructuredUserInstructions,
    )
    from tau2.data_model.tasks import (
        Task as Task,
    )
    from tau2.data_model.tasks import (
        UserScenario as UserScenario,
    )
    from tau2.environment.environment import Environment as Environment
    from tau2.environment.toolkit import ToolType as ToolType
    from tau2.evaluator.evaluator import EvaluationType as EvaluationType
    from tau2.evaluator.evaluator import evaluate_simulation as evaluate_simulation
    from tau2.evaluator.evaluator_action import ActionEvaluator as ActionEvaluator
    from tau2.evaluator.evaluator_communicate import CommunicateEvaluator as CommunicateEvaluator
    from tau2.registry import registry as registry
    from tau2.run import get_environment_info as get_environment_info
    from tau2.run import get_tasks as get_tasks
    from tau2.run import run_task as run_task
    from tau2.user.base import OUT_OF_SCOPE as OUT_OF_SCOPE
    from tau2.user.base import STOP as STOP
    from tau2.user.base import TRANSFER as TRANSFER
    from tau2.user.user_simulator import (
        SYSTEM_PROMPT as USER_SYSTEM_PROMPT,  # noqa: F401  (offered under a name of our own)
    )
    from tau2.user.user_simulator import (
        UserSimulator as UserSimulator,
    )
    from tau2.user.user_simulator import (
        get_global_user_sim_guidelines as get_global_user_sim_guidelines,
    )
    from tau2.utils.utils import get_now as get_now


def _table(modules: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, str]]:
    """``{module: ("Name", "tau2Name as OurName")}`` as ``{our name: (module, tau2's name)}``."""
    out: dict[str, tuple[str, str]] = {}
    for module, names in modules.items():
        for entry in names:
            theirs, _, ours = entry.partition(" as ")
            out[ours or theirs] = (module, theirs)
    return out


# Our name -> (tau2 module, tau2's name there).
_NAMES: dict[str, tuple[str, str]] = _table(
    {
        "tau2.agent.llm_agent": ("AGENT_INSTRUCTION", "SYSTEM_PROMPT as AGENT_SYSTEM_PROMPT", "LLMAgent"),
        "tau2.data_model.message": (
            "AssistantMessage",
            "Message",
            "SystemMessage",
            "ToolCall",
            "ToolMessage",
            "UserMessage",
        ),
        "tau2.data_model.simulation": (
            "AgentInfo",
            "Info",
            "Results",
            "RewardInfo",
            "SimulationRun",
            "TerminationReason",
            "UserInfo",
        ),
        "tau2.data_model.tasks": (
            "Action",
            "Description",
            "EvaluationCriteria",
            "RewardType",
            "StructuredUserInstructions",
            "Task",
            "UserScenario",
        ),
        "tau2.environment.environment": ("Environment",),
        "tau2.environment.toolkit": ("ToolType",),
        "tau2.evaluator.evaluator": ("EvaluationType", "evaluate_simulation"),
        "tau2.evaluator.evaluator_action": ("ActionEvaluator",),
        "tau2.evaluator.evaluator_communicate": ("CommunicateEvaluator",),
        "tau2.registry": ("registry",),
        "tau2.run": ("get_environment_info", "get_tasks", "run_task"),
        "tau2.user.base": ("OUT_OF_SCOPE", "STOP", "TRANSFER"),
        "tau2.user.user_simulator": (
            "SYSTEM_PROMPT as USER_SYSTEM_PROMPT",
            "UserSimulator",
            "get_global_user_sim_guidelines",
        ),
        "tau2.utils.utils": ("get_now",),
    }
)


def __getattr__(name: str) -> Any:
    """tau2's object for ``name``, imported on first use and kept as a module attribute."""
    try:
        module, theirs = _NAMES[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), theirs)
    globals()[name] = value  # later look-ups find it without coming here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_NAMES))


def import_module(name: str) -> ModuleType:
    """:func:`importlib.import_module` for a module that imports tau2 (a domain's environment
    module), with the settings above in place."""
    return importlib.import_module(name)
