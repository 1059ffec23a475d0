"""The CPU recipe's base model: an UNTRAINED tiny Qwen3 built from a config, with a tokenizer made here.

``ensure_tiny_base(spec, root)`` returns a complete Hugging Face model folder (config,
safetensors weights, tokenizer, ``chat_template.jinja`` in the hermes ``<tool_call>`` format,
generation config) that transformers and vLLM load like any checkpoint. It is cached under
``root/tiny-qwen3-base-<digest>``, the digest covering the spec and the code that builds it, so
it is made once per machine and cache folder (~10 s: the tokenizer's corpus is a few scripted
conversations).

The pieces that build and save a Qwen3 from a config (:class:`Qwen3Arch`, :func:`new_qwen3`,
:func:`save_model_dir`) need only torch and transformers; the tiny *trained* model
(``writ_dagster.core.llm.tiny_model``) uses them too. Only :func:`ensure_tiny_base` reaches
into tau2 (the scripted conversations and the agent prompts its tokenizer is trained on),
imported when called.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from writ_dagster.core.folders import build_lock, staging_dir

TINY_BASE = "tiny-qwen3-base"  # a recipe's base_model naming this model rather than a path or hub id
BASE_MANIFEST = "writ-tiny-base.json"
_HERE = Path(__file__).resolve()


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
        vocab_size=len(tok), hidden_size=arch.hidden_size, intermediate_size=arch.intermediate_size,
        num_hidden_layers=arch.num_layers, num_attention_heads=arch.num_heads,
        num_key_value_heads=arch.num_kv_heads or arch.num_heads, head_dim=arch.head_dim,
        max_position_embeddings=arch.max_position_embeddings, tie_word_embeddings=arch.tie_word_embeddings,
        bos_token_id=None, eos_token_id=eos, pad_token_id=tok.pad_token_id)


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
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    if isinstance(tok.chat_template, str):
        (out / "chat_template.jinja").write_text(tok.chat_template)
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())


class TinyBaseSpec(BaseModel):
    """Everything that determines the tiny base (its digest names the cached folder)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: Qwen3Arch = Field(default_factory=Qwen3Arch)
    bpe_vocab: int = Field(2048, ge=300, description="byte-level BPE merges, plus special, tool-tag and prompt tokens")
    domains: tuple[str, ...] = ("airline", "retail")
    tasks_per_domain: int = Field(12, ge=1, description="scripted tasks per domain whose conversations train the tokenizer")
    variants: int = Field(2, ge=1)
    seed: int = 20260602  # the tiny trained model's seed: both get the same tokenizer

    def digest(self) -> str:
        """Hash of the spec and of the code that builds the base (a change makes a new folder)."""
        h = hashlib.sha256(self.model_dump_json().encode())
        h.update(_HERE.read_bytes())
        llm = _HERE.parent.parent / "llm"
        for name in ("tiny_model.py", "tiny_data.py", "tiny_tokenizer.py", "chat_format.py"):
            h.update((llm / name).read_bytes())
        return h.hexdigest()[:16]


def tiny_base_dir(root: str | Path, spec: TinyBaseSpec | None = None) -> Path:
    """Where the base of ``spec`` is cached under ``root``."""
    spec = spec or TinyBaseSpec()
    return Path(root).expanduser().resolve() / f"{TINY_BASE}-{spec.digest()}"


def ensure_tiny_base(root: str | Path, spec: TinyBaseSpec | None = None, log: Any = None) -> Path:
    """The tiny base's folder under ``root``, building it first if missing (safe across processes)."""
    spec = spec or TinyBaseSpec()
    out = tiny_base_dir(root, spec)
    if (out / BASE_MANIFEST).is_file():
        return out
    with build_lock(out):
        if not (out / BASE_MANIFEST).is_file():  # another process (rank) may have built it meanwhile
            _build(out, spec, log or (lambda msg: None))
    return out



def _build(out: Path, spec: TinyBaseSpec, say: Any) -> None:
    # the tokenizer is the tiny trained model's (same scripted corpus, same prompt-line tokens): SFT
    # sets store the system prompt and tool schemas exactly as tau2 sends them
    from writ_dagster.core.llm.tiny_model import TinyModelSpec, scripted_tokenizer

    started = time.perf_counter()
    tok, chats = scripted_tokenizer(TinyModelSpec(bpe_vocab=spec.bpe_vocab, domains=spec.domains,
                                                  tasks_per_domain=spec.tasks_per_domain, variants=spec.variants,
                                                  seed=spec.seed))
    model = new_qwen3(spec.arch, tok, seed=spec.seed)
    with staging_dir(out) as tmp:
        files = save_model_dir(model, tok, tmp)
        manifest = {"digest": spec.digest(), "spec": json.loads(spec.model_dump_json()), "trained": False,
                    "tokenizer_corpus_conversations": len(chats), "vocab": len(tok),
                    "parameters": sum(p.numel() for p in model.parameters()), "files": files,
                    "build_seconds": round(time.perf_counter() - started, 1)}
        (tmp / BASE_MANIFEST).write_text(json.dumps(manifest, indent=2))  # last: marks the folder whole
    say(f"tiny base: built {out} ({manifest['parameters']} parameters, vocab {len(tok)}) "
        f"in {manifest['build_seconds']}s")
