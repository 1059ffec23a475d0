"""The two backend interfaces a conversation role can be played through.

``Backend.respond_batch`` answers many conversations at once — the shape of offline batched
inference (vLLM ``LLM.chat`` over a list of chats) and of the scripted backends; the
engine advances all conversations waiting on a role in lockstep with one call.
``AsyncBackend.respond`` answers one conversation — the shape of an OpenAI-compatible
server client, where concurrency comes from many requests in flight.
Both return :class:`Reply` objects with raw tool calls; the engine validates them.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol, Sequence, runtime_checkable

from writ_dagster.core.simulation.protocol import ConversationView, Reply
from writ_dagster.core.simulation.records import ModelInfo


@runtime_checkable
class Backend(Protocol):
    """Plays a role for many conversations per call (batched)."""

    name: str
    kind: str  # "scripted" | "llm"
    sampling: dict[str, Any]

    def respond_batch(self, views: Sequence[ConversationView]) -> list[Reply]:
        """One reply per view, in order. Per-conversation failures go in ``Reply.error``."""
        ...


@runtime_checkable
class AsyncBackend(Protocol):
    """Plays a role for one conversation per call (for async servers)."""

    name: str
    kind: str
    sampling: dict[str, Any]

    async def respond(self, view: ConversationView) -> Reply:
        """One reply for one view."""
        ...


class ScriptedBackend:
    """Base of the rule-based backends (the oracle agent, the scripted user): no model, so a
    batch is answered one view at a time by :meth:`respond`."""

    name = "scripted"
    kind = "scripted"
    sampling: dict[str, Any] = {}

    def respond_batch(self, views: Sequence[ConversationView]) -> list[Reply]:
        """One turn for each conversation."""
        return [self.respond(v) for v in views]

    def respond(self, view: ConversationView) -> Reply:
        """One turn for one conversation."""
        raise NotImplementedError


class BatchAsAsync:
    """Use a batched backend where an async one is expected (one view per call).

    ``in_thread`` runs the call in a worker thread, for blocking backends.
    """

    def __init__(self, backend: Backend, in_thread: bool = False) -> None:
        self.backend = backend
        self.in_thread = in_thread
        self.name, self.kind, self.sampling = backend.name, backend.kind, backend.sampling

    async def respond(self, view: ConversationView) -> Reply:
        if self.in_thread:
            return (await asyncio.to_thread(self.backend.respond_batch, [view]))[0]
        return self.backend.respond_batch([view])[0]


def model_info(backend: Backend | AsyncBackend) -> ModelInfo:
    """The record's description of a backend."""
    kind = "llm" if getattr(backend, "kind", "scripted") == "llm" else "scripted"
    return ModelInfo(name=backend.name, kind=kind, sampling=dict(getattr(backend, "sampling", {}) or {}))
