"""How much model throughput the simulation pipeline keeps, against a bare OpenAI client.

Starts a vLLM server (CPU build here, GPU build elsewhere) with the tiny local model (or
``--model DIR``), then alternates two runs over the same conversations at the same
concurrency:

- pipeline: the ``trajectories`` stage itself (``run_trajectories`` on a DuckDB file holding
  freshly synthesized airline and retail tasks and their user scripts, one partition per
  domain) with ``attempts`` tries per (task, script), all of them run (``stop_on_pass: false``;
  the tiny model passes nothing anyway), the ``OpenAICompatibleBackend`` as the agent and the
  scripted user; tau2 executes the tool calls, every record is scored and stored;
- bare: the exact chat requests the pipeline sent (same messages, tools and seeds), replayed
  per conversation in order by a plain ``AsyncOpenAI`` client, domain after domain as the
  pipeline ran them, nothing else done.

Throughput is completion tokens per wall second; the last line printed is
``pipeline/bare token throughput ratio: X`` (the target is >= 0.85).

    python bench/llm_orchestration_overhead.py [--tasks 8 --attempts 4 --concurrency 8 --rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from writ_dagster.core.llm.openai_client import OpenAICompatibleBackend
from writ_dagster.core.llm.registration import resolve_model
from writ_dagster.core.llm.sampling import Sampling
from writ_dagster.core.llm.vllm_server import VLLMServer, VLLMServerConfig
from writ_dagster.core.simulation.settings import TrajectoryConfig
from writ_dagster.core.stages.trajectories import run_trajectories
from writ_dagster.core.stages.user_scripts import run_user_scripts
from writ_dagster.core.storage.schema import connect
from writ_dagster.core.storage.tasks import write_partition
from writ_dagster.core.tasks.models import SynthesisConfig
from writ_dagster.core.tasks.synthesis import Synthesizer

DOMAINS = ("airline", "retail")
PARTITION = "bench"


class RecordingBackend(OpenAICompatibleBackend):
    """The pipeline's backend, keeping each conversation's requests for the bare replay."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requests: dict[str, list[dict[str, Any]]] = {}
        self.completion_tokens = 0

    def _request(self, view):  # type: ignore[no-untyped-def]
        request = super()._request(view)
        self.requests.setdefault(view.conv_id, []).append(request)
        return request

    def _reply(self, response):  # type: ignore[no-untyped-def]
        self.completion_tokens += response.usage.completion_tokens if response.usage else 0
        return super()._reply(response)


def make_database(path: Path, tasks: int, seed: int) -> None:
    """``tasks`` freshly synthesized tasks per domain and one user script each, stored as a run stores them."""
    config = SynthesisConfig(tasks_per_batch=tasks, seed=seed)
    with connect(path) as con:
        for domain in DOMAINS:
            write_partition(con, Synthesizer(domain, config).synthesize(PARTITION), config)
            run_user_scripts(con, domain, PARTITION, TrajectoryConfig(variants=1, seed=seed))


def run_pipeline(path: Path, url: str, model: str, sampling: Sampling,
                 config: TrajectoryConfig) -> tuple[float, int, list[RecordingBackend]]:
    """Every domain's partition through the trajectories stage, from scratch; (wall s, tokens, backends)."""
    backends: list[RecordingBackend] = []
    started = time.perf_counter()
    with connect(path) as con:
        for domain in DOMAINS:
            backend = RecordingBackend(url, model, sampling=sampling)
            backends.append(backend)
            result = run_trajectories(con, domain, PARTITION, config, agent_factory=lambda b=backend: b)
            assert not result.infrastructure_failures and not backend.failures, backend.failures
            assert result.simulated == result.planned, (result.simulated, result.planned)
    wall = time.perf_counter() - started
    # no aclose(): the stage's event loop is gone, and its connections with it
    return wall, sum(b.completion_tokens for b in backends), backends


async def run_bare(url: str, conversations: list[list[dict[str, Any]]], concurrency: int) -> tuple[float, int]:
    import httpx
    from openai import AsyncOpenAI

    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    client = AsyncOpenAI(base_url=url, api_key="EMPTY", max_retries=0,
                         http_client=httpx.AsyncClient(limits=limits, timeout=120))
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for conv in conversations:
        queue.put_nowait(conv)
    tokens = 0

    async def worker() -> None:
        nonlocal tokens
        while not queue.empty():
            for request in queue.get_nowait():  # a conversation's turns, one after another
                response = await client.chat.completions.create(**request)
                tokens += response.usage.completion_tokens
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    await client.close()
    return wall, tokens


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny", help='model folder, or "tiny" (built locally if missing)')
    parser.add_argument("--tasks", type=int, default=8, help="tasks per domain (one user script each)")
    parser.add_argument("--attempts", type=int, default=4, help="tries per (task, script), all of them run")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-steps", type=int, default=24)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=2, help="pipeline/bare pairs (best of each is kept)")
    ns = parser.parse_args(argv)

    sampling = Sampling(temperature=0.7, top_p=0.95, max_tokens=ns.max_tokens, seed=1)
    config = TrajectoryConfig(variants=1, seed=7, attempts=ns.attempts, stop_on_pass=False, resume=False,
                              max_steps=ns.max_steps, max_errors=ns.max_steps, max_concurrency=ns.concurrency)
    work = Path(tempfile.mkdtemp(prefix="writ-bench-"))
    path = work / "writ.duckdb"
    make_database(path, ns.tasks, seed=7)
    server_config = VLLMServerConfig(model=resolve_model(ns.model))
    with VLLMServer(server_config) as server:
        print(f"server {server.base_url} ready in {server.startup_s:.0f}s; {ns.tasks} tasks x {len(DOMAINS)} "
              f"domains x {ns.attempts} attempts, concurrency {ns.concurrency}", flush=True)
        warm = config.model_copy(update={"attempts": 1})
        run_pipeline(path, server.base_url, server_config.name, sampling, warm)  # warm-up
        pipe, bare = [], []
        for r in range(ns.rounds):
            wall, tokens, backends = run_pipeline(path, server.base_url, server_config.name, sampling, config)
            pipe.append(tokens / wall)
            conversations = sum(len(b.requests) for b in backends)
            turns = sum(len(v) for b in backends for v in b.requests.values())
            print(f"round {r}: pipeline {tokens} tokens in {wall:.2f}s = {tokens / wall:.0f} tok/s "
                  f"({conversations} conversations, {turns} turns)", flush=True)
            wall_b = tokens_b = 0
            for b in backends:  # domain after domain, as the pipeline ran them
                w, t = asyncio.run(run_bare(server.base_url, list(b.requests.values()), ns.concurrency))
                wall_b, tokens_b = wall_b + w, tokens_b + t
            bare.append(tokens_b / wall_b)
            print(f"round {r}: bare     {tokens_b} tokens in {wall_b:.2f}s = {tokens_b / wall_b:.0f} tok/s", flush=True)
    ratio = max(pipe) / max(bare)
    print(f"pipeline tok/s best {max(pipe):.0f} (median {statistics.median(pipe):.0f}); "
          f"bare best {max(bare):.0f} (median {statistics.median(bare):.0f}); "
          f"median ratio {statistics.median(pipe) / statistics.median(bare):.3f}")
    print(f"pipeline/bare token throughput ratio: {ratio:.3f} (attempts {ns.attempts})")
    return 0


if __name__ == "__main__":  # vLLM's worker processes re-import the main module
    sys.exit(main())
