"""Building and saving a Qwen3 decoder from a config: needs only torch and transformers.

Shared by the untrained tiny base the CPU recipe trains (:mod:`writ_dagster.core.training.tiny_base`),
the tiny tool-calling model of the tests (:mod:`writ_dagster.core.llm.tiny_model`) and the LoRA
merge of the trainer (:func:`save_model_dir`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Qwen3Arch(BaseModel):
    """The shape of a Qwen3 decoder (the vocabulary comes from the tokenizer)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hidden_size: int = Field(64, ge=8)
    intermediate_size: int = Field(256, ge=8)
    num_layers: int = Field(2, ge=1)
    num_heads: int = Field(2, ge=1)
    num_kv_heads: int | None = Field(None, ge=1, description="default: num_heads (no grouped-query attention)")
    head_dim: int = Field(64, ge=32, description="vLLM's CPU attention needs head_dim >= 32")
    max_position_embeddings: int = Field(32768, ge=128)
    tie_word_embeddings: bool = True


def qwen3_config(arch: Qwen3Arch, tok: Any) -> Any:
    """A ``Qwen3Config`` of ``arch`` for tokenizer ``tok`` (its vocabulary, end and pad tokens)."""
    from transformers import Qwen3Config

    eos = tok.convert_tokens_to_ids(tok.eos_token)
    return Qwen3Config(
        vocab_size=len(tok),
        hidden_size=arch.hidden_size,
        intermediate_size=arch.intermediate_size,
        num_hidden_layers=arch.num_layers,
        num_attention_heads=arch.num_heads,
        num_key_value_heads=arch.num_kv_heads or arch.num_heads,
        head_dim=arch.head_dim,
        max_position_embeddings=arch.max_position_embeddings,
        tie_word_embeddings=arch.tie_word_embeddings,
        bos_token_id=None,
        eos_token_id=eos,
        pad_token_id=tok.pad_token_id,
    )


def new_qwen3(arch: Qwen3Arch, tok: Any, seed: int | None = None) -> Any:
    """A randomly initialised ``Qwen3ForCausalLM`` (seeded if ``seed`` is given) that stops at ``tok``'s end token."""
    from transformers import Qwen3ForCausalLM, set_seed

    if seed is not None:
        set_seed(seed)
    config = qwen3_config(arch, tok)
    model = Qwen3ForCausalLM(config)
    # generation stops at the end-of-turn token; vLLM reads these from generation_config.json
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    return model


def save_model_dir(model: Any, tok: Any, out: Path) -> list[str]:
    """Write ``model`` and ``tok`` as a loadable folder (safetensors, tokenizer, generation config and
    ``chat_template.jinja``, which vLLM's ``--chat-template`` can also take); returns the files written."""
    from transformers.utils import logging as hf_logging

    out.mkdir(parents=True, exist_ok=True)
    # No progress bar: this also runs inside `writ run`, whose output is one line per stage.
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(out)
        tok.save_pretrained(out)
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
    if isinstance(tok.chat_template, str):
        (out / "chat_template.jinja").write_text(tok.chat_template)
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
