"""``writ dev``: the Dagster UI on WRIT's definitions, with WRIT's Dagster home."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from writ_dagster.cli.errors import EXIT_FAILED
from writ_dagster.core.home import WRIT_HOME_ENV, check_writable_dir, writ_home
from writ_dagster.instance import dagster_home, ensure_dagster_home
from writ_dagster.orphans import tidy_up


def cmd_dev(args: argparse.Namespace) -> int:
    """Start ``dagster dev`` on WRIT's definitions with WRIT's Dagster home (replaces this process)."""
    check_writable_dir(writ_home(), WRIT_HOME_ENV)
    check_writable_dir(dagster_home(), "DAGSTER_HOME")
    home = ensure_dagster_home()
    _fail_orphans(home)
    env = dict(os.environ, DAGSTER_HOME=str(home), **{WRIT_HOME_ENV: str(writ_home())})
    where = [*(["--host", args.host] if args.host else []), *(["--port", str(args.port)] if args.port else [])]
    argv = [sys.executable, "-m", "dagster", "dev", "-m", "writ_dagster.definitions", *where, *args.dagster_args]
    print(f"DAGSTER_HOME={env['DAGSTER_HOME']}", file=sys.stderr)
    os.execvpe(argv[0], argv, env)
    return EXIT_FAILED  # not reached


def _fail_orphans(home: Path) -> None:
    """Mark failed the runs a killed process left in progress, so the UI's queue starts moving at once, and
    stop the servers of ended runs."""
    import dagster as dg  # only here: `writ dev` otherwise hands over to `dagster dev` without loading it

    with dg.DagsterInstance.from_config(str(home)) as instance:
        for sentence in tidy_up(instance):
            print(f"writ: {sentence}", file=sys.stderr)
