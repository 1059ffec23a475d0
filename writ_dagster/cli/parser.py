"""The ``writ`` argument parser.

Each subcommand names its handler as (module of this package, function) rather than the function
itself, so that parsing, ``--help`` included, imports none of the commands (see ``main``).
"""

from __future__ import annotations

import argparse

from writ_dagster.core.home import UPSTREAM_ENV, WRIT_HOME_ENV
from writ_dagster.core.keys import DEFAULT_BATCH, WRIT_DOMAINS
from writ_dagster.core.limits import MAX_CONCURRENCY, MAX_TASKS_PER_BATCH, MAX_VARIANTS, MAX_WORKERS

# The stages `writ run --until` can stop after, in order.
STAGES = ("trajectories", "sft", "checkpoint", "evaluation")


def build_parser() -> argparse.ArgumentParser:
    """The ``writ`` argument parser; each subcommand sets ``handler`` to ``(module, function)``."""
    parser = argparse.ArgumentParser(
        prog="writ",
        description=f"WRIT task and trajectory synthesis for τ²-bench. State lives in "
        f"${WRIT_HOME_ENV} (default ./.writ).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    _add_exports(sub)
    _add_inspection(sub)
    _add_dev(sub)
    return parser


def _add_run(sub: argparse._SubParsersAction) -> None:
    """`writ run`: the pipeline, stage by stage, for each domain × batch."""
    run = sub.add_parser("run", help="synthesize tasks, user scripts and trajectories for each domain × batch")
    _add_synthesis_flags(run)
    _add_config_flags(run)
    _add_simulation_flags(run)
    _add_run_control_flags(run)
    run.set_defaults(handler=("run", "cmd_run"))


def _add_synthesis_flags(run: argparse.ArgumentParser) -> None:
    """Which tasks `writ run` synthesizes."""
    run.add_argument(
        "--domain", action="append", metavar="D", help=f"one of {', '.join(WRIT_DOMAINS)} (repeatable; default: all)"
    )
    run.add_argument(
        "--batch",
        action="append",
        metavar="KEY",
        help=f"batch partition key, 'b' and 4 digits (repeatable; default {DEFAULT_BATCH}); missing keys are added",
    )
    run.add_argument("--tasks-per-batch", type=int, metavar="N", help=f"1 to {MAX_TASKS_PER_BATCH}")
    run.add_argument("--seed", type=int, metavar="S")
    run.add_argument("--min-writes", type=int, metavar="N")
    run.add_argument("--max-writes", type=int, metavar="N")
    run.add_argument("--max-attempts-per-task", type=int, metavar="N")


def _add_config_flags(run: argparse.ArgumentParser) -> None:
    """Settings files and single settings over them."""
    run.add_argument(
        "--config",
        action="append",
        metavar="FILE",
        help="JSON or YAML file of SynthesisConfig fields "
        f"(and upstream_tasks_dir, default ${UPSTREAM_ENV}; and a `simulation` mapping of "
        "simulation settings, `sft`, `training`, `evaluation` mappings of those stages' settings, `teacher`, "
        "`user_simulator` and `user_rewriter` mappings of ModelRole fields, `batches`: a count or a list of keys); "
        "repeatable: each file is merged over the ones before it (mappings key by key), then --set; "
        "flags override them all",
    )
    run.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="one setting over the --config files, "
        "by dotted key, the value read as YAML: `--set simulation.attempts=4`, "
        "`--set teacher.options.base_urls=[http://127.0.0.1:8001/v1]` (repeatable, applied in order)",
    )


def _add_simulation_flags(run: argparse.ArgumentParser) -> None:
    """User scripts and conversations, in a help group of their own."""
    sim = run.add_argument_group("user scripts and trajectories")
    sim.add_argument(
        "--variants",
        type=int,
        metavar="N",
        help=f"user scripts per task, canonical included (default 2, at most {MAX_VARIANTS})",
    )
    sim.add_argument("--simulation-seed", type=int, metavar="S", help="seed of user scripts and conversations")
    sim.add_argument("--agent-backend", metavar="NAME", help="registered agent backend (default scripted-oracle)")
    sim.add_argument("--user-backend", metavar="NAME", help="registered user backend (default scripted-user)")
    sim.add_argument(
        "--max-concurrency", type=int, metavar="N", help=f"conversations in flight at once (at most {MAX_CONCURRENCY})"
    )
    sim.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help=f"worker processes for scripted backends (default 1, at most {MAX_WORKERS})",
    )
    sim.add_argument("--fresh", action="store_true", help="re-simulate every trajectory instead of resuming")


def _add_run_control_flags(run: argparse.ArgumentParser) -> None:
    """Where the run stops and what it prints."""
    run.add_argument(
        "--until",
        choices=STAGES,
        default=STAGES[-1],
        help="last stage to materialize (default: %(default)s, the whole graph; checkpoint and "
        "evaluation need the `llm` extra)",
    )
    run.add_argument("-v", "--verbose", action="store_true", help="show Dagster's run log")
    run.add_argument(
        "--progress-every",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="while a stage runs, a progress line on stderr (done of planned, passing, tokens/s, "
        "time left): updated in place on a terminal, else one every SECONDS (default "
        "%(default)g; 0: none)",
    )


def _add_exports(sub: argparse._SubParsersAction) -> None:
    """The export commands: tasks, trajectories and SFT sets."""
    export = sub.add_parser("export-tasks", help="write stored tasks as a JSON list of τ²-bench Tasks")
    export.add_argument("--domain", required=True, metavar="D")
    export.add_argument("--partition", metavar="KEY", help="one batch (default: all stored batches)")
    export.add_argument("--out", required=True, metavar="FILE", help="output file, or - for stdout")
    export.set_defaults(handler=("export", "cmd_export_tasks"))

    export_t = sub.add_parser("export-trajectories", help="write stored trajectories as a τ²-bench results file")
    export_t.add_argument("--domain", required=True, metavar="D")
    export_t.add_argument("--partition", metavar="KEY", help="one batch (default: every complete batch)")
    export_t.add_argument(
        "--format",
        choices=["tau2"],
        default="tau2",
        help="tau2: the results JSON of `tau2 run`, read by tau2's Results.load",
    )
    export_t.add_argument("--out", required=True, metavar="FILE", help="output file, or - for stdout")
    export_t.set_defaults(handler=("export", "cmd_export_trajectories"))

    export_s = sub.add_parser("export-sft", help="write a stored SFT set as Parquet files and a dataset card")
    export_s.add_argument(
        "--out", required=True, metavar="DIR", help="output folder (train.parquet, validation.parquet, README.md)"
    )
    export_s.add_argument("--version", metavar="V", help="SFT set version (default: the latest)")
    export_s.set_defaults(handler=("export", "cmd_export_sft"))


def _add_inspection(sub: argparse._SubParsersAction) -> None:
    """Commands that read the store: trace, show and ls."""
    trace_p = sub.add_parser("trace", help="print where an SFT row or trajectory came from")
    trace_p.add_argument("id", metavar="ID", help="an SFT row id '<sft_version>/<trajectory_id>' or a trajectory id")
    trace_p.add_argument("--json", action="store_true", help="machine-readable output")
    trace_p.add_argument(
        "--config",
        action="store_true",
        help="also print the settings each stage used (synthesis, simulation, SFT), not only their hashes",
    )
    trace_p.add_argument(
        "--no-db",
        action="store_true",
        help="do not look the task's entities up in the domain DB (skips loading τ²-bench)",
    )
    trace_p.set_defaults(handler=("trace", "cmd_trace"))

    show = sub.add_parser("show", help="print one stored conversation as a person reads it")
    show.add_argument("id", metavar="ID", help="a trajectory id, or an SFT row id '<sft_version>/<trajectory_id>'")
    show.add_argument("--width", type=int, metavar="N", help="line width (default: the terminal's, 60 to 160)")
    show.set_defaults(handler=("show", "cmd_show"))

    ls = sub.add_parser("ls", help="list the stored SFT sets, checkpoints and evaluations with their figures")
    ls.set_defaults(handler=("show", "cmd_ls"))


def _add_dev(sub: argparse._SubParsersAction) -> None:
    """`writ dev`: the Dagster UI, its own flags passed through."""
    # -h is the host, as in `dagster dev`; help is --help only
    dev = sub.add_parser(
        "dev",
        help="open the Dagster UI on WRIT's definitions and run history",
        add_help=False,
        description="Open the Dagster UI (`dagster dev`) on WRIT's definitions with WRIT's Dagster "
        "home. Any further argument is passed to `dagster dev` as it is.",
    )
    dev.add_argument("--help", action="help", help="show this help and exit")
    dev.add_argument(
        "-h", "--host", metavar="HOST", help="address the UI listens on (default: dagster dev's, 127.0.0.1)"
    )
    dev.add_argument(
        "-p", "--port", type=int, metavar="PORT", help="port the UI listens on (default: dagster dev's, 3000)"
    )
    dev.set_defaults(handler=("dev", "cmd_dev"), passthrough=True)  # any further arguments go to `dagster dev`
