"""LLM backends for the simulation engine: vLLM offline, OpenAI-compatible servers, a managed vLLM server.

Importing this package needs nothing beyond the core install and registers the backends
``vllm-offline`` and ``openai-compatible`` in the simulation's backend registry; vLLM,
torch and the OpenAI client are imported only when a backend is used
(``pip install 'writ-dagster[llm]'``).
"""

from writ_dagster.core.llm.registration import register

register()
