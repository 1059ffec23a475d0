"""Process-wide settings that must be in place before `tau2` is imported.

Importing tau2 pulls in litellm, which otherwise fetches a model price map from the
network at import time; and tau2's tools log through loguru on every call, which costs
more than the calls themselves. Every module that imports tau2 imports this one first.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from loguru import logger  # noqa: E402

# tau2 logs each tool call (and warns on every cancellation); silence it, keep ours.
logger.disable("tau2")
