"""The τ²-bench conversation protocol as data: prompts, stop tokens, replies and views.

Everything a backend needs to produce one turn is in a :class:`ConversationView`; what it
returns is a :class:`Reply` (raw: tool-call arguments may still be a JSON string). The
engine turns replies into tau2 messages, so malformed model output is handled in one place.
Those turn types live a floor below, in ``core/turns.py`` (the users' rewriter needs them
too), and are re-exported here.
"""

from __future__ import annotations

from typing import Any

from writ_dagster.core import tau2_adapter as tau2
from writ_dagster.core.tau2_adapter import OUT_OF_SCOPE, STOP, TRANSFER, UserScenario
from writ_dagster.core.turns import (
    ConversationView as ConversationView,
)
from writ_dagster.core.turns import (
    RawToolCall as RawToolCall,
)
from writ_dagster.core.turns import (
    Reply as Reply,
)
from writ_dagster.core.turns import (
    Role as Role,
)
from writ_dagster.core.turns import (
    agent_chat_messages as agent_chat_messages,
)

GREETING = "Hi! How can I help you today?"  # tau2's DEFAULT_FIRST_AGENT_MESSAGE
USER_STOP_TOKENS = (STOP, TRANSFER, OUT_OF_SCOPE)


def agent_system_prompt(policy: str) -> str:
    """tau2's LLMAgent system prompt for a domain policy."""
    # tau2's agent and user modules import litellm (seconds): fetched here, on first use, so that loading
    # the Dagster definitions (every `writ` command, every code server) does not pay for it.
    return tau2.AGENT_SYSTEM_PROMPT.format(agent_instruction=tau2.AGENT_INSTRUCTION, domain_policy=policy)


def user_system_prompt(user_scenario: dict[str, Any]) -> str:
    """tau2's UserSimulator system prompt: the global guidelines plus the scenario."""
    scenario = UserScenario.model_validate(user_scenario)
    return tau2.USER_SYSTEM_PROMPT.format(
        global_user_sim_guidelines=tau2.get_global_user_sim_guidelines(use_tools=False), instructions=str(scenario)
    )


def is_user_stop(text: str | None) -> bool:
    """tau2's UserSimulator.is_stop on a message's text."""
    if not text:
        return False
    return any(tok in text for tok in USER_STOP_TOKENS)
