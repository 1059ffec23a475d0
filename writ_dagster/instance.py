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
# Dagster's local compute logs (in ./storage), mirrored to the terminal by processes a Ctrl-C does not
# reach (writ_dagster/compute_logs.py).
compute_logs:
  module: writ_dagster.compute_logs
  class: WritComputeLogManager
"""
_WRITTEN_BY_WRIT = DAGSTER_YAML.splitlines()[0]


def dagster_home() -> Path:
    """Dagster's instance directory: ``$DAGSTER_HOME`` if set, else ``$WRIT_HOME/dagster``."""
    explicit = os.environ.get("DAGSTER_HOME")
    return Path(explicit).expanduser().resolve() if explicit else writ_home() / "dagster"


def ensure_dagster_home() -> Path:
    """Create Dagster's home (with a ``dagster.yaml`` if it has none, or an earlier writ's) and return it.

    A ``dagster.yaml`` that does not start with writ's first line is the user's, and kept as it is."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    try:
        current = config.read_text()
    except FileNotFoundError:
        current = None
    if current is None:
        config.write_text(DAGSTER_YAML)
    elif current != DAGSTER_YAML and current.startswith(_WRITTEN_BY_WRIT):
        try:
            config.write_text(DAGSTER_YAML)
        except OSError:
            pass  # a read-only home keeps working with the earlier file
    return home
