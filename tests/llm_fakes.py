"""Loopback HTTP helpers for the LLM tests: a fake OpenAI chat server and a fault-injecting proxy.

Both bind 127.0.0.1 only, run in a background thread with their own event loop, answer a
bounded number of requests (whatever the test sends) and stop when the test's ``with``
block ends.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections import Counter
from typing import Any, Callable

from aiohttp import ClientSession, ClientTimeout, web


class LoopbackServer:
    """An aiohttp app served on 127.0.0.1:<free port> from a background thread."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> "LoopbackServer":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.app, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def __exit__(self, *exc: Any) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)


def fake_openai_app(answer: Callable[[dict[str, Any]], dict[str, Any] | int]) -> tuple[web.Application, list]:
    """A chat-completions app; ``answer(request_json)`` gives the assistant message dict, or an
    HTTP status to fail with. Returns the app and the list of request bodies it saw."""
    seen: list[dict[str, Any]] = []

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append({"body": body, "auth": request.headers.get("Authorization", "")})
        result = answer(body)
        if isinstance(result, int):
            return web.json_response({"error": {"message": "injected"}}, status=result)
        return web.json_response({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", **result}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app, seen


class FaultProxy:
    """A reverse proxy to ``upstream`` that fails a share of chat requests on purpose.

    Per request (seeded RNG): ``drop`` closes the connection without an answer, ``stall``
    holds the request past the client's timeout, ``corrupt`` forwards it and then cuts the
    answer's JSON in half, ``http503`` answers 503 without forwarding, ``slow`` forwards
    after a short delay; the rest are forwarded untouched. A request whose ``seed`` is in
    ``poisoned`` always gets 503, so that conversation's turn fails for good.
    """

    def __init__(self, upstream: str, rates: dict[str, float], seed: int = 0, stall_s: float = 6.0,
                 poisoned: Callable[[dict[str, Any]], bool] = lambda body: False) -> None:
        self.upstream = upstream.rstrip("/")
        self.rates = rates
        self.rng = random.Random(seed)
        self.stall_s = stall_s
        self.poisoned = poisoned
        self.counts: Counter[str] = Counter()
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self._chat)
        self.server = LoopbackServer(self.app)
        self._session: ClientSession | None = None

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def __enter__(self) -> "FaultProxy":
        self.server.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._session is not None:
            asyncio.run_coroutine_threadsafe(self._session.close(), self.server._loop).result(timeout=30)
        self.server.__exit__(*exc)

    def _fault(self) -> str:
        x, acc = self.rng.random(), 0.0
        for name, rate in self.rates.items():
            acc += rate
            if x < acc:
                return name
        return "ok"

    async def _forward(self, raw: bytes, headers: Any) -> tuple[int, bytes]:
        if self._session is None:
            self._session = ClientSession(timeout=ClientTimeout(total=120))
        keep = {k: v for k, v in headers.items() if k.lower() in ("content-type", "authorization")}
        async with self._session.post(f"{self.upstream}/chat/completions", data=raw, headers=keep) as resp:
            return resp.status, await resp.read()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw)
        self.counts["requests"] += 1
        fault = "poisoned" if self.poisoned(body) else self._fault()
        self.counts[fault] += 1
        if fault in ("poisoned", "http503"):
            return web.json_response({"error": {"message": "injected 503"}}, status=503)
        if fault == "drop":
            request.transport.close()  # type: ignore[union-attr]  (no status line: the client sees a reset)
            raise asyncio.CancelledError
        if fault == "stall":
            await asyncio.sleep(self.stall_s)  # the client times out first and retries
            return web.json_response({"error": {"message": "too late"}}, status=504)
        if fault == "slow":
            await asyncio.sleep(0.2)
        try:
            status, payload = await self._forward(raw, request.headers)
        except asyncio.CancelledError:
            # the client gave up on a healthy answer (its timeout passed while the model generated,
            # e.g. on a loaded machine): a failed attempt the client counts, that no fault explains
            self.counts["abandoned"] += 1
            raise
        if request.transport is None or request.transport.is_closing():
            self.counts["abandoned"] += fault in ("ok", "slow")
        if fault == "corrupt":
            payload = payload[: len(payload) // 2]
        return web.Response(status=status, body=payload, content_type="application/json")
