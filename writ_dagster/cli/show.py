"""``writ show``: one stored conversation as a person reads it, and ``writ ls``: what the home holds."""

from __future__ import annotations

import argparse
import shutil

from writ_dagster.cli.errors import EXIT_OK, BadInput
from writ_dagster.core.evaluation.metrics import figures_line
from writ_dagster.core.home import duckdb_path
from writ_dagster.core.storage.checkpoints import checkpoints
from writ_dagster.core.storage.evaluations import evaluation_ids, read_scores
from writ_dagster.core.storage.schema import connect
from writ_dagster.core.storage.sft import sft_sets
from writ_dagster.core.storage.trajectories import read_trajectory


def cmd_show(args: argparse.Namespace) -> int:
    """Print the conversation of a trajectory id (or of an SFT row id ``<sft_version>/<trajectory_id>``)."""
    from writ_dagster.core.domains.registry import get_domain
    from writ_dagster.core.simulation.transcript import calls, transcript_lines

    trajectory_id = args.id.rsplit("/", 1)[-1]
    with connect(duckdb_path(), read_only=True) as con:
        record = read_trajectory(con, trajectory_id)
        if record is None:
            raise BadInput(
                f"no trajectory {trajectory_id!r} is stored in {duckdb_path()} "
                "(`writ export-trajectories` or the `trajectories` table list the ids)"
            )
        task = con.execute(
            "SELECT trajectory_type, family, writes, reads, max_reads_before_write FROM tasks WHERE task_id = ?",
            [record.task_id],
        ).fetchone()
    write_tools = get_domain(record.domain).write_tools
    made = calls(record.messages, write_tools)
    writes = [c for c in made if c.write]
    kind = f"{task[0]}, {task[1]}" if task else f"{record.trajectory_type}, task no longer stored"
    burden = f"; the task needs {task[2]} writes, {task[3]} reads (at most {task[4]} before a write)" if task else ""
    width = args.width or max(60, min(shutil.get_terminal_size((100, 24)).columns, 160))
    lines = [
        f"trajectory {record.trajectory_id}: {record.domain}/{record.partition}, task {record.task_id} ({kind}), "
        f"variant {record.variant}, attempt {record.attempt}",
        f"reward {record.reward:g}, ended {record.termination_reason}, {record.n_turns} turns, "
        f"{len(made)} tool calls ({sum(c.error for c in made)} failed){burden}",
        f"agent {record.agent.name} ({record.agent.kind}); user {record.user.name} ({record.user.kind})",
    ]
    if record.score_error or record.backend_error:
        lines.append(f"error: {record.score_error or record.backend_error}")
    lines.append(f"writes made ({len(writes)}): " + ("; ".join(c.line() for c in writes) if writes else "none"))
    print("\n".join([*lines, "", *transcript_lines(record.messages, write_tools, width)]))
    return EXIT_OK


def cmd_ls(args: argparse.Namespace) -> int:
    """List the stored SFT sets, checkpoints and evaluations, newest first, with their headline figures."""
    with connect(duckdb_path(), read_only=True) as con:
        sets, models = sft_sets(con), checkpoints(con)
        # evaluation ids begin with their UTC start time: newest first
        evaluations = {e: read_scores(con, e) for e in sorted(evaluation_ids(con), reverse=True)}
    out = [f"SFT sets ({len(sets)})"]
    for s in sets:
        dropped = s.considered - s.n_train - s.n_validation
        out.append(
            f"  {s.sft_version}  {_when(s.written_at)}  {s.n_train + s.n_validation} rows (train {s.n_train}, "
            f"validation {s.n_validation}) from {s.considered} trajectories, {dropped} dropped, "
            f"{len(s.cells)} cells"
        )
    out.append(f"checkpoints ({len(models)})")
    for c in models:
        first = f"{c.loss_curve[0][1]:.3f} -> " if c.loss_curve else ""
        loss = f"loss {first}{c.final_loss:.3f}" if c.final_loss is not None else "no loss logged"
        out.append(
            f"  {c.checkpoint_id}  {_when(c.written_at)}  {c.recipe}, {c.steps} steps on {c.train_rows} rows, "
            f"{loss}; from SFT set {c.sft_version}"
        )
    out.append(f"evaluations ({len(evaluations)})")
    for evaluation_id, scores in evaluations.items():
        first_score = scores[0].score
        checkpoint = next((s.score.checkpoint_id for s in scores if s.score.checkpoint_id), "none")
        out.append(
            f"  {evaluation_id}  {_when(scores[0].written_at)}  checkpoint {checkpoint}, "
            f"{first_score.task_split} tasks x {first_score.num_trials} trials"
        )
        for row in sorted(scores, key=lambda s: (s.score.domain, s.score.model_label != "base", s.score.model_label)):
            out.append(f"    {row.score.domain} {row.score.model_label}: {figures_line(row.score.figures)}")
    print("\n".join(out))
    return EXIT_OK


def _when(at: object) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if hasattr(at, "strftime") else "?"
