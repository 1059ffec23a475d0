"""The Dagster instance WRIT runs in: where its home is and the ``dagster.yaml`` writ writes there.

Dagster's home is ``$DAGSTER_HOME`` if set, else ``$WRIT_HOME/dagster``, so that runs started by
``writ run`` and by ``dagster dev`` share one history.
"""

from __future__ import annotations

import os
from pathlib import Path

from writ_dagster.core.home import writ_home

# DuckDB allows one writer process (see docs/notes): runs launched from the UI queue one at a time.
# Dagster 1.13's dagster.yaml cannot name a pool's limit, only the default of every pool that has
# none set in the instance (`dagster instance concurrency set`); WRIT's pools, `gpu` included,
# are one-at-a-time resources, so that default is 1.
GPU_POOL = "gpu"
DAGSTER_YAML = """\
# Written by writ. DuckDB allows a single writer process, so runs are queued one at a time.
concurrency:
  runs:
    max_concurrent_runs: 1
  pools:
    # Every pool without its own limit, the `gpu` pool of trajectories, checkpoint and evaluation
    # included, runs one step at a time.
    default_limit: 1
telemetry:
  enabled: false
"""


def dagster_home() -> Path:
    """Dagster's instance directory: ``$DAGSTER_HOME`` if set, else ``$WRIT_HOME/dagster``."""
    explicit = os.environ.get("DAGSTER_HOME")
    return Path(explicit).expanduser().resolve() if explicit else writ_home() / "dagster"


def ensure_dagster_home() -> Path:
    """Create Dagster's home (with a ``dagster.yaml`` if it has none) and return it."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    return home
