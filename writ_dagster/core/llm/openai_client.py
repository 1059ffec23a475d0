"""An async backend over OpenAI-compatible chat servers (vLLM's, or any other).

One request per conversation turn, spread over one or more base URLs (replicas): each turn goes to
the replica with the fewest of this client's requests in flight, ties broken round-robin (plain
round-robin piles requests on one replica while another idles, since turns take unequal times).
Transient failures — connection refused or reset, timeouts, HTTP 429 and 5xx, and replies
that cannot be read (a corrupted body) — are retried with exponential backoff, each retry
on the next URL; when retries run out, the turn comes back as ``Reply(error=reason)`` and the
engine ends that conversation as a failed one. Other HTTP errors (400: bad request, e.g. a
prompt past the context length) fail at once. Counters in :attr:`stats` and the reason of
each failed conversation in :attr:`failures` say what happened.

An endpoint that refuses one of the sampling parameters (HTTP 400 naming it, as OpenAI's
reasoning models do for ``max_tokens`` and ``temperature``) would refuse every turn of every
conversation the same way, so that raises :class:`RefusedParameterError` at once, with one
line naming the backend option that changes the request (``reasoning_model``).

Reasoning text — a server's ``reasoning_content`` (or ``reasoning``) field, or ``<think>``
blocks left in the content — is taken out of the content and handed on in
``Reply.reasoning``; a turn cut by the length limit keeps ``finish_reason`` in ``Reply.raw``.

The API key is read from an environment variable whose *name* is configured; it is kept
only inside the HTTP clients, never in the backend's name, sampling dict or repr.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

from writ_dagster.core.llm.chat_format import TOOL_CALL_START, openai_tool_calls, parse_tool_calls, split_reasoning
from writ_dagster.core.llm.sampling import SAMPLING_REQUEST_KEYS, Sampling, request_sampling, usage_of
from writ_dagster.core.simulation.protocol import ConversationView, Reply

NO_KEY = "EMPTY"  # what OpenAI clients send to servers started without --api-key


@dataclass(frozen=True)
class RetryPolicy:
    """Retries after the first attempt, with exponential backoff and jitter (seconds)."""

    max_retries: int = 4
    backoff_s: float = 0.25
    backoff_max_s: float = 8.0
    timeout_s: float = 120.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The pause before retry number ``attempt`` (1-based): doubling, capped, ±25 % jitter."""
        base = min(self.backoff_max_s, self.backoff_s * (2 ** (attempt - 1)))
        return base * (0.75 + 0.5 * rng.random())


class Transient(Exception):
    """A failure worth retrying; ``reason`` is short and holds no secret."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RefusedParameterError(ValueError):
    """The endpoint refuses a request parameter the backend's options control (one-line message)."""


# Wordings of servers refusing a parameter (OpenAI, vLLM's strict request models, proxies).
_REFUSAL_WORDS = (
    "unsupported",
    "not supported",
    "extra inputs",
    "extra_forbidden",
    "unrecognized",
    "unknown parameter",
    "not allowed",
    "not permitted",
    "invalid parameter",
)


def refused_parameter(status: int, param: str | None, message: str, sent: Sequence[str]) -> str | None:
    """Which of the ``sent`` sampling parameters an HTTP error refuses, or None.

    OpenAI names it in the error's ``param``; other servers only in the message, quoted.
    """
    if status != 400:
        return None
    if param in sent:
        return param
    low = message.lower()
    if not any(word in low for word in _REFUSAL_WORDS):
        return None
    for name in sent:
        if any(f"{q}{name}{q}" in message for q in ("'", '"', "`")):
            return name
    return None


def refusal_message(url: str, param: str, detail: str, role: str, sampling: Sampling) -> str:
    """One line saying which parameter the endpoint refused and which option to set."""
    where = f"set reasoning_model: {{value}} in the {role} backend's options ({role}_options)"
    if param == "max_completion_tokens" and sampling.reasoning_model:
        fix = where.format(value="false") + ", which sends max_tokens and the sampling settings instead"
    elif not sampling.reasoning_model:
        fix = where.format(value="true") + ", which sends max_completion_tokens and no temperature, top_p or seed"
    else:
        fix = "this endpoint takes neither request form; check which parameters its model accepts"
    return f"the endpoint {url} refused the request parameter {param!r} ({detail}); {fix}"


def api_key_from_env(env_name: str | None) -> str:
    """The key in ``$env_name``; no name means no key. A named but unset variable is an error
    (naming the variable, never a value)."""
    if not env_name:
        return NO_KEY
    value = os.environ.get(env_name)
    if not value:
        raise ValueError(f"the API key variable {env_name} is not set")
    return value


class OpenAICompatibleBackend:
    """An :class:`~writ_dagster.core.simulation.backends.AsyncBackend` over chat completions."""

    kind = "llm"

    def __init__(
        self,
        base_urls: str | Sequence[str],
        model: str,
        *,
        api_key_env: str | None = None,
        sampling: Sampling | None = None,
        retry: RetryPolicy | None = None,
        max_connections: int = 256,
        name: str | None = None,
    ) -> None:
        urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        if not urls:
            raise ValueError("at least one base URL is needed")
        self.base_urls = [u.rstrip("/") for u in urls]
        self.model = model
        self.params = sampling or Sampling()
        self.retry = retry or RetryPolicy()
        self.name = name or f"openai:{model}"
        self.sampling = {"model": model, **self.params.as_dict()}
        self._key = api_key_from_env(api_key_env)
        self._max_connections = max_connections
        self._clients: list[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # HTTP clients belong to one event loop
        self._next = itertools.count()
        self._in_flight = [0] * len(self.base_urls)  # this client's requests now at each replica
        self._rng = random.Random(self.params.seed)
        self.stats: Counter[str] = Counter()  # requests, retries, retry:<reason>, failed, recovered_tool_calls
        self.failures: dict[str, str] = {}  # conversation id -> why its last turn failed

    def __repr__(self) -> str:  # no key here, ever
        return f"OpenAICompatibleBackend(base_urls={self.base_urls!r}, model={self.model!r})"

    # -- clients -----------------------------------------------------------------------------
    def _client(self, slot: int) -> Any:
        loop = asyncio.get_running_loop()
        if self._clients is None or self._loop is not loop:  # a new loop (e.g. a second run): new clients
            self._loop = loop
            import httpx
            from openai import AsyncOpenAI

            limits = httpx.Limits(
                max_connections=self._max_connections, max_keepalive_connections=self._max_connections
            )
            # max_retries=0: retries are ours (counted, spread over URLs, with our backoff). openai's signature
            # names httpx2's client, but it takes an httpx one too.
            self._clients = [
                AsyncOpenAI(
                    base_url=url,
                    api_key=self._key,
                    max_retries=0,
                    timeout=self.retry.timeout_s,
                    http_client=httpx.AsyncClient(  # type: ignore[arg-type]  # (see above)
                        limits=limits, timeout=self.retry.timeout_s
                    ),
                )
                for url in self.base_urls
            ]
        return self._clients[slot % len(self._clients)]

    async def aclose(self) -> None:
        """Close the HTTP connections (the backend can be used again afterwards)."""
        clients, self._clients, self._loop = self._clients or [], None, None
        for client in clients:
            await client.close()

    # -- turns -------------------------------------------------------------------------------
    async def respond(self, view: ConversationView) -> Reply:
        """One turn for one conversation, retried on transient failures."""
        request = self._request(view)
        slot = self._pick(avoid=None)
        attempt = 0
        while True:
            self.stats["requests"] += 1
            self._in_flight[slot] += 1
            try:
                return self._reply(await self._create(self._client(slot), request))
            except Transient as exc:
                reason = exc.reason
            except _Permanent as exc:
                if exc.refused is not None:
                    self.stats["refused"] += 1
                    url = self.base_urls[slot]
                    raise RefusedParameterError(
                        refusal_message(url, exc.refused, exc.reason, view.role, self.params)
                    ) from None
                return self._fail(view, exc.reason)
            finally:
                self._in_flight[slot] -= 1
            if attempt >= self.retry.max_retries:
                return self._fail(view, f"{reason} (gave up after {attempt + 1} attempts)")
            attempt += 1
            slot = self._pick(avoid=slot)  # a retry goes to another replica
            self.stats["retries"] += 1
            self.stats[f"retry:{reason.split(':')[0]}"] += 1
            await asyncio.sleep(self.retry.delay(attempt, self._rng))

    def _pick(self, avoid: int | None) -> int:
        """The replica for the next request: fewest in flight, ties in round-robin order, not ``avoid``."""
        n = len(self.base_urls)
        start = next(self._next)
        order = [(start + i) % n for i in range(n)]
        if avoid is not None and n > 1:
            order.remove(avoid)
        return min(order, key=self._in_flight.__getitem__)  # min keeps the first of equals

    def _request(self, view: ConversationView) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": view.chat_messages(),
            **request_sampling(self.params, view),
        }
        if view.tools:
            request["tools"] = view.tools
        return request

    def _fail(self, view: ConversationView, reason: str) -> Reply:
        self.stats["failed"] += 1
        self.failures[view.conv_id] = reason
        return Reply(error=reason)

    async def _create(self, client: Any, request: dict[str, Any]) -> Any:
        import openai
        from openai.types.chat import ChatCompletion

        try:
            # Posted as it is, not through `chat.completions.create`: the SDK's typed-parameter transform
            # walks the whole conversation in Python on every turn, and was half the orchestrator's CPU
            # with a fast server (bench/preset_rehearsal.py); the request is already plain JSON data.
            response = await client.post("/chat/completions", body=request, cast_to=ChatCompletion)
        except openai.APITimeoutError:
            raise Transient("timeout") from None
        except openai.APIConnectionError as exc:
            raise Transient(f"connection: {_short(exc.__cause__ or exc)}") from None
        except openai.APIStatusError as exc:
            if exc.status_code == 429 or exc.status_code >= 500:
                raise Transient(f"http {exc.status_code}") from None
            sent = [k for k in SAMPLING_REQUEST_KEYS if k in request]
            refused = refused_parameter(exc.status_code, getattr(exc, "param", None), str(exc.message), sent)
            raise _Permanent(f"http {exc.status_code}: {_short(exc.message)}", refused) from None
        except (ValueError, openai.APIResponseValidationError) as exc:  # unreadable body (JSON error is a ValueError)
            raise Transient(f"bad response: {_short(exc)}") from None
        if not getattr(response, "choices", None) or response.choices[0].message is None:
            raise Transient("bad response: no choices")
        return response

    def _reply(self, response: Any) -> Reply:
        choice = response.choices[0]
        message = choice.message
        calls = openai_tool_calls(message.tool_calls)
        # vLLM's reasoning parsers fill `reasoning_content` (newer releases: `reasoning`); servers
        # without one leave the think block in the content
        served = getattr(message, "reasoning_content", None) or getattr(message, "reasoning", None)
        content, in_text = split_reasoning(message.content)
        reasoning = "\n\n".join(r for r in (served if isinstance(served, str) else None, in_text) if r) or None
        raw: dict[str, Any] = {"finish_reason": choice.finish_reason}
        if not calls and content and TOOL_CALL_START in content:
            # the server's parser drops a turn whose tool-call JSON is broken; recover the calls
            # here so the engine records them as malformed, as it does for offline generation
            content, calls = parse_tool_calls(content)
            raw["tool_calls_from_text"] = True
            self.stats["recovered_tool_calls"] += 1
        usage = response.usage
        return Reply(
            content=content,
            tool_calls=calls,
            raw=raw,
            reasoning=reasoning,
            usage=usage_of(usage.prompt_tokens, usage.completion_tokens) if usage else None,
        )


class _Permanent(Exception):
    def __init__(self, reason: str, refused: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.refused = refused  # the sampling parameter the endpoint refuses, if that is why


def _short(exc: object, limit: int = 200) -> str:
    text = (
        str(exc)
        if not isinstance(exc, BaseException)
        else (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    )
    return json.dumps(text)[1:-1][:limit]
