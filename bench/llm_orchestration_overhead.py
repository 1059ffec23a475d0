"""How much model throughput the simulation pipeline keeps, against a bare OpenAI client.

Starts a vLLM server (CPU build here, GPU build elsewhere) with the tiny local model (or
``--model DIR``), then alternates two runs over the same conversations at the same
concurrency:

- pipeline: ``SimulationEngine.arun`` with the ``OpenAICompatibleBackend`` (LLM agent) and
  the scripted user; tau2 executes the tool calls, every record is scored;
- bare: the exact chat requests the pipeline sent (same messages, tools and seeds), replayed
  per conversation in order by a plain ``AsyncOpenAI`` client, nothing else done.

Throughput is completion tokens per wall second; the last line printed is
``pipeline/bare token throughput ratio: X`` (the target is >= 0.85).

    python bench/llm_orchestration_overhead.py [--conversations 24 --concurrency 8 --rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from typing import Any

from writ_dagster.core.llm.openai_client import OpenAICompatibleBackend
from writ_dagster.core.llm.registration import resolve_model
from writ_dagster.core.llm.sampling import Sampling
from writ_dagster.core.llm.vllm_server import VLLMServer, VLLMServerConfig
from writ_dagster.core.simulation import Job, ScriptedUser, SimulationConfig, SimulationEngine
from writ_dagster.core.tasks.models import SynthesisConfig
from writ_dagster.core.tasks.synthesis import Synthesizer
from writ_dagster.core.users import make_scripts


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


def make_jobs(n: int, seed: int) -> list[Job]:
    """``n`` conversations over freshly synthesized airline and retail tasks."""
    jobs: list[Job] = []
    for domain in ("airline", "retail"):
        batch = Synthesizer(domain, SynthesisConfig(tasks_per_batch=(n + 1) // 2, seed=seed)).synthesize("bench")
        jobs += [Job(rec, make_scripts(rec, 1, seed)[0], seed=seed) for rec in batch.tasks]
    return jobs[:n]


async def run_pipeline(url: str, model: str, jobs: list[Job], sampling: Sampling,
                       limits: SimulationConfig) -> tuple[float, int, RecordingBackend]:
    backend = RecordingBackend(url, model, sampling=sampling)
    engine = SimulationEngine(backend, ScriptedUser(), limits)
    started = time.perf_counter()
    records = [r async for r in engine.arun(jobs)]
    wall = time.perf_counter() - started
    await backend.aclose()
    assert len(records) == len(jobs) and not backend.failures, backend.failures
    return wall, backend.completion_tokens, backend


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
    parser.add_argument("--conversations", type=int, default=24)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-steps", type=int, default=24)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=2, help="pipeline/bare pairs (best of each is kept)")
    ns = parser.parse_args(argv)

    sampling = Sampling(temperature=0.7, top_p=0.95, max_tokens=ns.max_tokens, seed=1)
    limits = SimulationConfig(max_steps=ns.max_steps, max_errors=ns.max_steps, max_concurrency=ns.concurrency)
    jobs = make_jobs(ns.conversations, seed=7)
    config = VLLMServerConfig(model=resolve_model(ns.model))
    with VLLMServer(config) as server:
        print(f"server {server.base_url} ready in {server.startup_s:.0f}s; {len(jobs)} conversations, "
              f"concurrency {ns.concurrency}", flush=True)
        asyncio.run(run_pipeline(server.base_url, config.name, jobs[: ns.concurrency], sampling, limits))  # warm-up
        pipe, bare = [], []
        for r in range(ns.rounds):
            wall, tokens, backend = asyncio.run(run_pipeline(server.base_url, config.name, jobs, sampling, limits))
            pipe.append(tokens / wall)
            turns = sum(len(v) for v in backend.requests.values())
            print(f"round {r}: pipeline {tokens} tokens in {wall:.2f}s = {tokens / wall:.0f} tok/s ({turns} turns)",
                  flush=True)
            wall_b, tokens_b = asyncio.run(run_bare(server.base_url, list(backend.requests.values()), ns.concurrency))
            bare.append(tokens_b / wall_b)
            print(f"round {r}: bare     {tokens_b} tokens in {wall_b:.2f}s = {tokens_b / wall_b:.0f} tok/s", flush=True)
    ratio = max(pipe) / max(bare)
    print(f"pipeline tok/s best {max(pipe):.0f} (median {statistics.median(pipe):.0f}); "
          f"bare best {max(bare):.0f} (median {statistics.median(bare):.0f}); "
          f"median ratio {statistics.median(pipe) / statistics.median(bare):.3f}")
    print(f"pipeline/bare token throughput ratio: {ratio:.3f}")
    return 0


if __name__ == "__main__":  # vLLM's worker processes re-import the main module
    sys.exit(main())
