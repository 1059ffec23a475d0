"""``writ trace``: the lineage chain of an SFT row or trajectory id."""

from __future__ import annotations

import argparse
import json

from writ_dagster.cli.errors import EXIT_FAILED, EXIT_OK, BadInput, print_error
from writ_dagster.core.home import duckdb_path
from writ_dagster.core.storage.lineage import BrokenChainError, Chain, ModelLink, UnknownIdError, trace
from writ_dagster.core.storage.schema import connect


def cmd_trace(args: argparse.Namespace) -> int:
    """Print the lineage chain of an SFT row or trajectory id."""
    with connect(duckdb_path(), read_only=True) as con:
        try:
            chain = trace(con, args.id, resolve_entities=not args.no_db, with_configs=args.config)
        except UnknownIdError as exc:
            raise BadInput(str(exc)) from None
        except BrokenChainError as exc:  # stored, but the data no longer holds together
            print_error(exc)
            return EXIT_FAILED
    print(chain.model_dump_json(indent=2) if args.json else format_chain(chain))
    return EXIT_OK


def _sampling(m: ModelLink) -> str:
    body = ", ".join(f"{k}={v}" for k, v in sorted(m.sampling.items()))
    return f"{m.name} ({m.kind}{'; ' + body if body else ''})"


def format_chain(chain: Chain) -> str:
    """The chain as indented text, one link per paragraph."""
    t, s, k = chain.trajectory, chain.script, chain.task
    lines = []
    if chain.sft is not None:
        lines += [
            f"SFT row {chain.sft.row_id}",
            f"  set {chain.sft.sft_version} ({chain.sft.split} split), config {chain.sft.config_hash}, "
            f"code {chain.sft.code_version}",
            f"  files {chain.sft.directory}",
        ]
    lines += [
        f"trajectory {t.trajectory_id}",
        f"  {t.domain}/{t.partition}, seed {t.seed}, reward {t.reward:g}, ended {t.termination_reason}, "
        f"{t.n_turns} turns, {t.n_tool_calls} tool calls",
        f"  agent {_sampling(t.agent)}; user {_sampling(t.user)}",
        f"  code {t.code_version}, {t.tau2_version}, simulation config {t.simulation_config_hash}, "
        f"engine config {t.engine_config_hash}",
    ]
    if chain.sft is None and chain.sft_rows:
        lines.append(f"  in SFT rows: {', '.join(chain.sft_rows)}")
    dims = ", ".join(f"{a}={b}" for a, b in s.dimensions.items())
    lines += [
        f"user script {s.script_id}",
        f"  variant {s.variant}, {'scripted' if s.has_user_script else 'plain (canonical instruction)'}, "
        f"seed {s.seed}" + (f"; {dims}" if s.has_user_script else ""),
    ]
    lines += [
        f"task {k.task_id}",
        f"  {k.trajectory_type} ({k.family}), {k.writes} writes, {k.reads} reads (at most {k.max_reads_before_write} "
        f"before a write), user {k.user_id}",
        f"  seed {k.seed}, attempt {k.attempt}, config {k.config_hash}, code {k.code_version}, {k.tau2_version}",
    ]
    lines += [f"  gold write: {w}" for w in k.gold_writes]
    lines.append(f"DB entities ({len(chain.entities)})")
    for e in chain.entities:
        where = "" if e.found is None else (f" -> {e.location}" if e.found else " -> NOT in the domain DB")
        lines.append(f"  {e.entity} ({e.role}){where}")
    if chain.sft_rows:
        lines.append(f"trained into checkpoints: {', '.join(chain.checkpoints) or 'none yet'}")
        lines.append(f"evaluated in: {', '.join(chain.evaluations) or 'none yet'}")
    for stage, config in chain.configs.items():
        lines += [f"{stage} settings", *(f"  {key}: {json.dumps(value)}" for key, value in config.items())]
    return "\n".join(lines)
