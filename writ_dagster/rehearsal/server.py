"""The simulated fleet's HTTP replicas (aiohttp): OpenAI-compatible routes, latency, capacity, faults.

Every replica listens on its own port; all of them run on one event loop in one process and
answer through one :class:`~writ_dagster.rehearsal.dialogue.Fleet`, so a conversation's state
is found whichever replica a turn (or its retry) reaches. Routes of each replica:

- ``GET /v1/models``: the simulated model ids;
- ``POST /v1/chat/completions``: one scripted turn (teacher or user simulator), with ``usage``;
- ``GET /health``: 200 while serving;
- ``GET /stats``: every replica's figures (requests, busy sequence-seconds, capacity, queue
  waits, peak concurrency, faults injected, tokens) and the fleet's (catalogue, state cache).

A request first meets the replica's faults (drawn at random: they never change a reply), then
waits for one of ``capacity`` sequence slots, is answered, and holds its slot for the time a
GPU server would take: ``(ttft + prompt/prefill + output/decode) × (1 ± jitter) × time_scale``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from writ_dagster.rehearsal.behaviour import TOKEN_ESTIMATE
from writ_dagster.rehearsal.catalogue import Catalogue
from writ_dagster.rehearsal.config import SERVER_NAME, FleetConfig, ReplicaSettings
from writ_dagster.rehearsal.dialogue import Answer, BadRequest, Fleet, NotRecognised


@dataclass
class ReplicaStats:
    """What one replica has done since it started."""

    capacity: int
    requests: int = 0
    answered: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    busy_sequence_s: float = 0.0
    in_flight: int = 0
    peak_in_flight: int = 0
    waiting: int = 0
    peak_waiting: int = 0
    queued: int = 0
    queue_wait_s: float = 0.0
    queue_wait_max_s: float = 0.0
    faults: dict[str, int] = field(default_factory=lambda: {"http_5xx": 0, "timeout": 0, "reset": 0})
    prompt_tokens: int = 0
    completion_tokens: int = 0
    by_role: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    holding: dict[int, float] = field(default_factory=dict)  # request -> when it took its slot

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures (seconds rounded to ms). ``busy_sequence_s`` includes the slots held
        now, so that samples of it taken during a run are exact."""
        now = time.monotonic()
        wall = now - self.started
        busy = self.busy_sequence_s + sum(now - t for t in self.holding.values())
        return {
            "capacity": self.capacity,
            "requests": self.requests,
            "answered": self.answered,
            "statuses": dict(self.statuses),
            "busy_sequence_s": round(busy, 3),
            "wall_s": round(wall, 3),
            "utilisation": round(busy / (self.capacity * wall), 4) if wall > 0 else 0.0,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "waiting": self.waiting,
            "peak_waiting": self.peak_waiting,
            "queued": self.queued,
            "queue_wait_s": round(self.queue_wait_s, 3),
            "queue_wait_max_s": round(self.queue_wait_max_s, 3),
            "faults": dict(self.faults),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "by_role": dict(self.by_role),
        }


def _error(status: int, message: str, kind: str = "invalid_request_error") -> web.Response:
    return web.json_response({"error": {"message": message, "type": kind, "code": status}}, status=status)


class Replica:
    """One simulated server: its own port, capacity, latency and faults; the fleet's answers."""

    def __init__(
        self, index: int, settings: ReplicaSettings, config: FleetConfig, fleet: Fleet, server: FleetServer
    ) -> None:
        self.index = index
        self.settings = settings
        self.config = config
        self.fleet = fleet
        self.server = server
        self.stats = ReplicaStats(capacity=settings.capacity)
        self.slots = asyncio.Semaphore(settings.capacity)
        self.rng = random.Random(f"{config.seed}-replica-{index}")  # timing and faults only
        self.port = 0

    def app(self) -> web.Application:
        """The aiohttp application of this replica."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/health", self.health)
        app.router.add_get("/stats", self.server.stats_route)
        return app

    async def health(self, request: web.Request) -> web.Response:
        """200 while serving."""
        return web.json_response({"status": "ok", "server": SERVER_NAME, "replica": self.index})

    async def models(self, request: web.Request) -> web.Response:
        """The simulated model ids, OpenAI's list shape."""
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": 0, "owned_by": SERVER_NAME} for m in self.config.models
                ],
            }
        )

    def _status(self, status: int) -> None:
        key = str(status)
        self.stats.statuses[key] = self.stats.statuses.get(key, 0) + 1

    async def chat(self, request: web.Request) -> web.StreamResponse:
        """One chat completion: faults, a capacity slot, the scripted answer, the simulated latency."""
        self.stats.requests += 1
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            self._status(400)
            return _error(400, "the body is not JSON")
        if not isinstance(body, dict):
            self._status(400)
            return _error(400, "the body is not a JSON object")
        model = body.get("model")
        if model not in self.config.models:
            self._status(404)
            return _error(
                404, f"The model `{model}` does not exist (served: {', '.join(self.config.models)})", "NotFoundError"
            )
        if body.get("stream"):
            self._status(400)
            return _error(400, f"{SERVER_NAME} does not stream")
        faults = self.settings.faults
        u = self.rng.random()
        if u < faults.http_5xx_rate:
            self.stats.faults["http_5xx"] += 1
            self._status(503)
            return _error(503, f"{SERVER_NAME}: simulated overload (injected fault)", "ServiceUnavailable")
        u -= faults.http_5xx_rate
        if u < faults.timeout_rate:
            self.stats.faults["timeout"] += 1
            await asyncio.sleep(faults.stall_s)
            self._status(504)
            return _error(504, f"{SERVER_NAME}: simulated stall (injected fault)", "Timeout")
        u -= faults.timeout_rate
        if u < faults.reset_rate:
            self.stats.faults["reset"] += 1
            self._status(0)
            if request.transport is not None:
                request.transport.abort()  # the client sees its connection reset, with no answer
            raise asyncio.CancelledError  # nothing more to write on a closed transport
        return await self._serve(body)

    async def _serve(self, body: dict[str, Any]) -> web.Response:
        loop = asyncio.get_running_loop()
        queued_at = loop.time()
        self.stats.waiting += 1
        self.stats.peak_waiting = max(self.stats.peak_waiting, self.stats.waiting)
        try:
            await self.slots.acquire()
        finally:
            self.stats.waiting -= 1
        start = loop.time()
        token = object()
        self.stats.holding[id(token)] = time.monotonic()
        wait = start - queued_at
        self.stats.queue_wait_s += wait
        self.stats.queue_wait_max_s = max(self.stats.queue_wait_max_s, wait)
        self.stats.queued += wait > 0.001
        self.stats.in_flight += 1
        self.stats.peak_in_flight = max(self.stats.peak_in_flight, self.stats.in_flight)
        try:
            try:
                answer = await self.server.answer(body)
            except BadRequest as exc:
                self._status(400)
                return _error(400, f"{SERVER_NAME}: {exc}")
            except NotRecognised as exc:
                # Transient on purpose: a conversation of a partition whose tasks are not yet in the
                # database's last checkpoint is recognised once they are; the client retries.
                self._status(503)
                return _error(503, f"{SERVER_NAME}: {exc} (catalogue reloaded; retry)", "ServiceUnavailable")
            await asyncio.sleep(self._latency(answer))
            self.stats.answered += 1
            self.stats.prompt_tokens += answer.prompt_tokens
            self.stats.completion_tokens += answer.completion_tokens
            self.stats.by_role[answer.role] = self.stats.by_role.get(answer.role, 0) + 1
            self._status(200)
            return web.json_response(completion_body(body, answer), dumps=_dumps)
        finally:
            self.stats.in_flight -= 1
            self.stats.busy_sequence_s += time.monotonic() - self.stats.holding.pop(id(token))
            self.slots.release()

    def _latency(self, answer: Answer) -> float:
        lat = self.settings.latency
        base = (
            lat.ttft_s
            + answer.prompt_tokens / lat.prefill_tokens_per_s
            + answer.completion_tokens / lat.decode_tokens_per_s
        )
        return max(0.0, base * (1 + lat.jitter * (2 * self.rng.random() - 1)) * self.config.time_scale)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def completion_body(request: dict[str, Any], answer: Answer) -> dict[str, Any]:
    """The OpenAI chat-completion object for ``answer`` (its id a hash of the content)."""
    message: dict[str, Any] = {"role": "assistant", "content": answer.content}
    if answer.tool_calls:
        message["tool_calls"] = answer.tool_calls
    if answer.reasoning_content is not None:
        message["reasoning_content"] = answer.reasoning_content
    finish = answer.finish_reason
    if finish == "stop" and answer.tool_calls:
        finish = "tool_calls"
    digest = hashlib.sha256(_dumps(message).encode()).hexdigest()[:24]
    return {
        "id": f"chatcmpl-sim-{digest}",
        "object": "chat.completion",
        "created": 0,
        "model": request.get("model"),
        "system_fingerprint": SERVER_NAME,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens,
            "total_tokens": answer.prompt_tokens + answer.completion_tokens,
            "estimate": TOKEN_ESTIMATE,
        },
    }


class FleetServer:
    """All replicas of one fleet, sharing one :class:`Fleet` (conversation state) and catalogue."""

    def __init__(self, config: FleetConfig, catalogue: Catalogue) -> None:
        self.config = config
        self.catalogue = catalogue
        self.fleet = Fleet(config, catalogue)
        self.tau2 = None  # τ²'s own tasks, when configured (rehearsing the evaluation)
        if config.tau2.domains:
            from writ_dagster.rehearsal.tau2_tasks import Tau2Catalogue, Tau2Player

            self.tau2 = Tau2Player(config, Tau2Catalogue(config.tau2.domains, config.tau2.split))
        self.replicas = [
            Replica(i, config.replica_settings(i), config, self.fleet, self) for i in range(config.replica_count)
        ]
        self.runners: list[web.AppRunner] = []
        self._reload = asyncio.Lock()
        self.cpu_started = time.process_time()
        self.started = time.monotonic()

    async def start(self) -> list[str]:
        """Listen on every replica's port; returns the base URLs (``http://host:port/v1``)."""
        urls = []
        for replica in self.replicas:
            # a stalled request (an injected timeout) must not hold a stop for a minute
            runner = web.AppRunner(replica.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
            await runner.setup()
            site = web.TCPSite(
                runner, self.config.host, self.config.replica_port(replica.index), reuse_address=True, backlog=4096
            )
            await site.start()
            self.runners.append(runner)
            replica.port = runner.addresses[0][1]
            urls.append(f"http://{self.config.host}:{replica.port}/v1")
        return urls

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        for runner in self.runners:
            await runner.cleanup()
        self.runners = []

    async def answer(self, body: dict[str, Any]) -> Answer:
        """The fleet's answer; on an unknown conversation, reload the catalogue once and try again."""
        if self.tau2 is not None:
            answer = self.tau2.complete(body)
            if answer is not None:
                return answer
        try:
            return self.fleet.complete(body)
        except NotRecognised:
            pass
        loads = self.catalogue.loads
        async with self._reload:  # concurrent misses (a new partition's first turns) share one reload
            if self.catalogue.loads == loads:
                await asyncio.to_thread(self.catalogue.refresh)
            try:
                return self.fleet.complete(body)
            except NotRecognised:
                pass
            # a teacher conversation whose opening the fleet's user did not say: every script's opening
            await asyncio.to_thread(self.catalogue.openings_ready)
        return self.fleet.complete(body, use_catalogue=True)

    def stats(self) -> dict[str, Any]:
        """Every replica's figures and the fleet's."""
        wall = time.monotonic() - self.started
        cpu = time.process_time() - self.cpu_started
        answered = sum(r.stats.answered for r in self.replicas)
        return {
            "server": SERVER_NAME,
            "replicas": [{"replica": r.index, "port": r.port, **r.stats.as_dict()} for r in self.replicas],
            "fleet": {
                "wall_s": round(wall, 3),
                "cpu_s": round(cpu, 3),
                "answered": answered,
                "cpu_ms_per_answer": round(1000 * cpu / answered, 3) if answered else None,
                "catalogue": self.catalogue.stats(),
                "counters": dict(self.fleet.counters),
                "states_kept": len(self.fleet.states),
                "acts_kept": len(self.fleet.acts),
                "tau2": dict(self.tau2.counters) if self.tau2 is not None else None,
            },
        }

    async def stats_route(self, request: web.Request) -> web.Response:
        """``GET /stats`` (the same on every replica: they share one process)."""
        return web.json_response(self.stats())
