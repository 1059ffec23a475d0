"""The training program Dagster Pipes launches: ``python -m writ_dagster.core.training.pipes_main``.

Dagster (``PipesSubprocessClient`` locally, ``dagster_k8s.PipesK8sClient`` in a pod) starts it
with the job in the Pipes extras (``{"job": TrainJob}``). It trains with
:func:`~writ_dagster.core.training.sft_train.train_checkpoint` and streams back, as it goes, a
log line and a custom message (``{"kind": "loss", "step", "loss", ...}``) per logged step, then
one ``{"kind": "result", "manifest": ...}``. A failure is reported to Dagster and the exit
status is non-zero, so the asset registers nothing.

Under ``accelerate launch`` every rank runs this module; only rank 0 opens the Pipes channel
(one writer of the message stream), the others read the same job from the injected context.
Without Dagster, ``--job FILE`` runs a ``TrainJob`` JSON file directly.

Imports ``dagster_pipes`` (a small package with no dependencies), never ``dagster``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from writ_dagster.core.training.sft_train import TrainJob, TrainResult, train_checkpoint


def rank() -> int:
    """This process's global rank under ``accelerate launch`` / torchrun (0 when launched alone)."""
    return int(os.environ.get("RANK", "0"))


def injected_extras() -> dict[str, Any]:
    """The Pipes extras Dagster injected, read without opening the message channel (non-zero ranks)."""
    from dagster_pipes import PipesDefaultContextLoader, PipesEnvVarParamsLoader

    params = PipesEnvVarParamsLoader()
    if not params.is_dagster_pipes_process():
        raise RuntimeError("not launched by Dagster Pipes (no DAGSTER_PIPES_CONTEXT); use --job FILE instead")
    with PipesDefaultContextLoader().load_context(params.load_context_params()) as data:
        return dict(data.get("extras") or {})


def job_from_extras(extras: dict[str, Any]) -> TrainJob:
    """The ``TrainJob`` in the extras, with a clear error if it is missing."""
    if "job" not in extras:
        raise ValueError(f"the Pipes extras carry no 'job' (keys: {sorted(extras)})")
    return TrainJob.model_validate(extras["job"])


def run_under_pipes() -> TrainResult | None:
    """Train the injected job, streaming losses to Dagster from rank 0."""
    if rank() != 0:
        return train_checkpoint(job_from_extras(injected_extras()))
    from dagster_pipes import open_dagster_pipes

    with open_dagster_pipes() as pipes:
        job = job_from_extras(dict(pipes.extras))

        def on_log(point: dict[str, Any]) -> None:
            extra = "".join(f", {k} {point[k]:.3g}" for k in ("learning_rate", "grad_norm") if k in point)
            pipes.log.info(f"step {point['step']}: loss {point['loss']:.4f}{extra}")
            pipes.report_custom_message({"kind": "loss", **point})

        result = train_checkpoint(job, on_log=on_log, say=pipes.log.info)
        if result is not None:
            pipes.report_custom_message({"kind": "result", "manifest": result.model_dump(mode="json")})
        return result


def main(argv: list[str] | None = None) -> int:
    """Entry point: under Dagster Pipes, or ``--job FILE`` by hand."""
    parser = argparse.ArgumentParser(
        prog="python -m writ_dagster.core.training.pipes_main",
        description="Fine-tune a checkpoint (launched by Dagster Pipes)",
    )
    parser.add_argument("--job", help="a TrainJob JSON file, to run without Dagster")
    ns, _ = parser.parse_known_args(argv)  # Pipes may add its own --dagster-pipes-* arguments
    if ns.job:
        job = TrainJob.model_validate_json(Path(ns.job).read_text())
        result = train_checkpoint(
            job,
            on_log=lambda p: print(f"step {p['step']}: loss {p['loss']:.4f}", flush=True),
            say=lambda msg: print(msg, flush=True),
        )
        if result is not None:
            print(result.checkpoint)
        return 0
    run_under_pipes()
    return 0


if __name__ == "__main__":
    sys.exit(main())
