"""Stage ``tasks``: synthesize one domain × batch of verified tasks and replace the partition's rows."""

from __future__ import annotations

from dataclasses import dataclass

from writ_dagster.core.stages import Connect
from writ_dagster.core.storage.runs import PartitionRun
from writ_dagster.core.storage.tasks import write_partition
from writ_dagster.core.tasks.models import BatchResult, SynthesisConfig
from writ_dagster.core.tasks.synthesis import Synthesizer


@dataclass
class TasksRun:
    """What one run of the stage synthesized and stored."""

    result: BatchResult
    run: PartitionRun


def run_tasks(
    connect: Connect, domain: str, batch: str, config: SynthesisConfig, upstream_dir: str | None = None
) -> TasksRun:
    """Synthesize ``batch`` of ``domain`` and replace its stored rows with the result.

    Impossible settings raise before anything is written; the database is opened only once the
    batch is synthesized, so other writers are not held up meanwhile.
    """
    synthesizer = Synthesizer(domain, config, upstream_dir)
    result = synthesizer.synthesize(batch)
    with connect() as con:
        run = write_partition(con, result, config)
    return TasksRun(result=result, run=run)
