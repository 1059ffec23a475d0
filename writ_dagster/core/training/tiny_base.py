"""The CPU recipe's base model, named and shaped: an UNTRAINED tiny Qwen3 with a tokenizer made here.

A recipe whose ``base_model`` is :data:`TINY_BASE` trains this model. Its complete Hugging Face
folder (config, safetensors weights, tokenizer, ``chat_template.jinja`` in the hermes
``<tool_call>`` format, generation config) is cached under ``root/tiny-qwen3-base-<digest>``
(:func:`tiny_base_dir`), the digest covering the spec and the code that builds it, so it is made
once per machine and cache folder (~10 s).

It is built by :func:`writ_dagster.core.llm.tiny_model.ensure_tiny_base` in the process that
launches the training, not here: its tokenizer is trained on scripted conversations (tau2), and
the training program imports neither tau2 nor the LLM wing. The launcher hands the training the
built folder.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from writ_dagster.core.training.qwen3 import Qwen3Arch

TINY_BASE = "tiny-qwen3-base"  # a recipe's base_model naming this model rather than a path or hub id
BASE_MANIFEST = "writ-tiny-base.json"  # written last into a built base's folder
_HERE = Path(__file__).resolve()


class TinyBaseSpec(BaseModel):
    """Everything that determines the tiny base (its digest names the cached folder)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: Qwen3Arch = Field(default_factory=Qwen3Arch)
    bpe_vocab: int = Field(2048, ge=300, description="byte-level BPE merges, plus special, tool-tag and prompt tokens")
    domains: tuple[str, ...] = ("airline", "retail")
    tasks_per_domain: int = Field(
        12, ge=1, description="scripted tasks per domain whose conversations train the tokenizer"
    )
    variants: int = Field(2, ge=1)
    seed: int = 20260602  # the tiny trained model's seed: both get the same tokenizer

    def digest(self) -> str:
        """Hash of the spec and of the code that builds the base (a change makes a new folder)."""
        h = hashlib.sha256(self.model_dump_json().encode())
        h.update(_HERE.read_bytes())
        h.update((_HERE.parent / "qwen3.py").read_bytes())
        llm = _HERE.parent.parent / "llm"
        for name in ("tiny_model.py", "tiny_data.py", "tiny_tokenizer.py", "chat_format.py"):
            h.update((llm / name).read_bytes())
        return h.hexdigest()[:16]


def tiny_base_dir(root: str | Path, spec: TinyBaseSpec | None = None) -> Path:
    """Where the base of ``spec`` is cached under ``root``."""
    spec = spec or TinyBaseSpec()
    return Path(root).expanduser().resolve() / f"{TINY_BASE}-{spec.digest()}"
