"""A tiny tool-calling Qwen3 made here, offline and deterministically, for tests and benchmarks.

``ensure_tiny_model(dir)`` returns a model folder that vLLM (and transformers) load like any
Hugging Face checkpoint: config, safetensors weights, tokenizer with the hermes-style chat
template (``chat_template.jinja``), generation config. It is built only if the folder has
no model made from the same spec and code (``writ-tiny-model.json``), so the ~1 minute
build happens once per machine and cache folder.

The build: scripted trajectories from our own engine (oracle agent vs scripted user over
freshly synthesized airline and retail tasks) -> a byte-level BPE tokenizer trained on them
-> a randomly initialised 2-layer Qwen3 -> a short TRL SFT run on assistant tokens only.
The result writes ``<tool_call>`` blocks and short agent-like messages; it is not meant to
solve tasks. Run ``python -m writ_dagster.core.llm.tiny_model --out DIR`` to build one.

The CPU training recipe's UNTRAINED base (:func:`ensure_tiny_base`, named and shaped in
:mod:`writ_dagster.core.training.tiny_base`) shares this model's tokenizer and is built here too:
that tokenizer is trained on scripted conversations (tau2), which the training program must not
import, so the process that launches the training builds the base and hands over its folder.

Needs the ``llm`` extra (torch, transformers, trl, datasets); imported lazily.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from writ_dagster.core.folders import build_lock, staging_dir
from writ_dagster.core.home import writ_home
from writ_dagster.core.training.qwen3 import Qwen3Arch, new_qwen3, save_model_dir
from writ_dagster.core.training.tiny_base import BASE_MANIFEST, TinyBaseSpec, tiny_base_dir

MANIFEST = "writ-tiny-model.json"
MODEL_DIR_ENV = "WRIT_TINY_MODEL_DIR"
# the build code, this folder's and the Qwen3 config and saving shared with the untrained tiny base
_SOURCES = ("tiny_model.py", "tiny_data.py", "tiny_tokenizer.py", "chat_format.py", "../training/qwen3.py")


@dataclass(frozen=True)
class TinyModelSpec:
    """Everything that determines the built model (its hash names the build)."""

    hidden_size: int = 64
    intermediate_size: int = 256
    num_layers: int = 2
    num_heads: int = 2
    head_dim: int = 64  # vLLM's CPU attention needs head_dim >= 32
    bpe_vocab: int = 2048  # plus special, tool-tag and prompt-line tokens
    max_position_embeddings: int = 32768  # whole conversations fit; the KV cache is tiny
    domains: tuple[str, ...] = ("airline", "retail")
    tasks_per_domain: int = 12
    variants: int = 2
    seed: int = 20260602
    max_length: int = 512  # training window, tokens
    epochs: float = 2.0  # enough for tool calls vLLM parses (the model-backed tests); a third epoch cost ~50 s a CI
    batch_size: int = 4
    learning_rate: float = 5e-3

    def arch(self) -> Qwen3Arch:
        """The model's shape (shared with the untrained tiny base of the CPU training recipe)."""
        return Qwen3Arch(
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            head_dim=self.head_dim,
            max_position_embeddings=self.max_position_embeddings,
        )

    def digest(self) -> str:
        """Hash of the spec, the build code and the tau2 version (a change rebuilds)."""
        from writ_dagster.core.versioning import tau2_version

        h = hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode())
        here = Path(__file__).resolve().parent
        for name in _SOURCES:
            h.update((here / name).read_bytes())
        h.update(tau2_version().encode())
        return h.hexdigest()[:16]


def default_model_dir() -> Path:
    """``$WRIT_TINY_MODEL_DIR``, else ``$WRIT_HOME/models/tiny-qwen3-tools``."""
    explicit = os.environ.get(MODEL_DIR_ENV)
    return Path(explicit).expanduser().resolve() if explicit else writ_home() / "models" / "tiny-qwen3-tools"


def is_built(path: Path, spec: TinyModelSpec) -> bool:
    """Whether ``path`` holds a model built from ``spec`` with this code."""
    try:
        return json.loads((path / MANIFEST).read_text())["digest"] == spec.digest()
    except (OSError, ValueError, KeyError):
        return False


def ensure_tiny_model(path: str | Path | None = None, spec: TinyModelSpec | None = None, log: Any = None) -> Path:
    """The tiny model's folder, building it first if it is missing or stale."""
    spec = spec or TinyModelSpec()
    out = Path(path).expanduser().resolve() if path else default_model_dir()
    if is_built(out, spec):
        return out
    with build_lock(out):
        if not is_built(out, spec):  # another process may have built it meanwhile
            build_tiny_model(out, spec, log=log)
    return out


def build_tiny_model(out: Path, spec: TinyModelSpec, log: Any = None) -> dict[str, Any]:
    """Build the model into ``out`` (replacing it atomically); returns the manifest."""
    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    started = time.perf_counter()
    with staging_dir(out) as tmp:
        rows, tok, stats = _data_and_tokenizer(spec)
        say(
            f"tiny model: {stats['chats']} trajectories -> {len(rows)} training windows, "
            f"vocab {len(tok)} ({time.perf_counter() - started:.1f}s)"
        )
        model = _train(rows, tok, spec, tmp / "trainer")
        shutil.rmtree(tmp / "trainer", ignore_errors=True)
        save_model_dir(model, tok, tmp)  # chat_template.jinja too, also for --chat-template
        manifest = {
            "digest": spec.digest(),
            "spec": dataclasses.asdict(spec),
            **stats,
            "parameters": sum(p.numel() for p in model.parameters()),
            "build_seconds": round(time.perf_counter() - started, 1),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
    say(f"tiny model: built {out} in {manifest['build_seconds']}s")
    return manifest


def scripted_tokenizer(spec: TinyModelSpec) -> tuple[Any, list[Any]]:
    """The tokenizer trained on ``spec``'s scripted conversations (its data fields and ``bpe_vocab``
    only), with each domain's system prompt and tool lines as tokens, and those conversations
    (``tiny_data.AgentChat``)."""
    import writ_dagster.core.llm.tiny_data as tiny_data  # not via the package: its __init__ registers backends
    from writ_dagster.core.llm.tiny_tokenizer import train_tokenizer

    chats = [
        c
        for d in spec.domains
        for c in tiny_data.agent_chats(tiny_data.scripted_jobs(d, spec.tasks_per_domain, spec.variants, spec.seed))
    ]
    corpus = [text for c in chats for text in _texts(c.messages[1:])]
    fixed = [tiny_data.fixed_prompt(d) for d in spec.domains]
    return train_tokenizer(corpus, fixed, spec.bpe_vocab), chats


def ensure_tiny_base(root: str | Path, spec: TinyBaseSpec | None = None, log: Any = None) -> Path:
    """The untrained tiny base's folder under ``root``, building it first if missing (safe across processes)."""
    spec = spec or TinyBaseSpec()
    out = tiny_base_dir(root, spec)
    if (out / BASE_MANIFEST).is_file():
        return out
    with build_lock(out):
        if not (out / BASE_MANIFEST).is_file():  # another process may have built it meanwhile
            _build_tiny_base(out, spec, log or (lambda msg: None))
    return out


def _build_tiny_base(out: Path, spec: TinyBaseSpec, say: Any) -> None:
    # the tokenizer is the tiny trained model's (same scripted corpus, same prompt-line tokens): SFT
    # sets store the system prompt and tool schemas exactly as tau2 sends them
    started = time.perf_counter()
    tok, chats = scripted_tokenizer(
        TinyModelSpec(
            bpe_vocab=spec.bpe_vocab,
            domains=spec.domains,
            tasks_per_domain=spec.tasks_per_domain,
            variants=spec.variants,
            seed=spec.seed,
        )
    )
    model = new_qwen3(spec.arch, tok, seed=spec.seed)
    with staging_dir(out) as tmp:
        files = save_model_dir(model, tok, tmp)
        manifest = {
            "digest": spec.digest(),
            "spec": json.loads(spec.model_dump_json()),
            "trained": False,
            "tokenizer_corpus_conversations": len(chats),
            "vocab": len(tok),
            "parameters": sum(p.numel() for p in model.parameters()),
            "files": files,
            "build_seconds": round(time.perf_counter() - started, 1),
        }
        (tmp / BASE_MANIFEST).write_text(json.dumps(manifest, indent=2))  # last: marks the folder whole
    say(
        f"tiny base: built {out} ({manifest['parameters']} parameters, vocab {len(tok)}) "
        f"in {manifest['build_seconds']}s"
    )


def _data_and_tokenizer(spec: TinyModelSpec) -> tuple[list[dict[str, Any]], Any, dict[str, Any]]:
    import writ_dagster.core.llm.tiny_data as tiny_data  # not via the package: its __init__ registers backends

    tok, chats = scripted_tokenizer(spec)
    blank = {"role": "system", "content": ""}
    empty = len(tok(tok.apply_chat_template([blank], tokenize=False))["input_ids"])

    def count(message: dict[str, Any], tools: list[dict[str, Any]]) -> int:
        if message["role"] == "system":
            return len(tok(tok.apply_chat_template([message], tools=tools, tokenize=False))["input_ids"])
        return len(tok(tok.apply_chat_template([blank, message], tokenize=False))["input_ids"]) - empty

    rows = []
    for chat in chats:
        # (named: mypy cannot infer a lambda with default arguments passed as a one-argument callable)
        tokens = lambda m, t=chat.tools: count(m, t)  # noqa: E731
        for window in tiny_data.windows(chat, tokens, spec.max_length):
            rows.append(tiny_data.sft_row(window, chat.tools))
    return rows, tok, {"chats": len(chats), "windows": len(rows)}


def _texts(messages: list[dict[str, Any]]) -> Iterator[str]:
    for m in messages:
        if m.get("content"):
            yield m["content"]
        for call in m.get("tool_calls") or []:
            yield json.dumps({"name": call["function"]["name"], "arguments": call["function"]["arguments"]})


def _train(rows: list[dict[str, Any]], tok: Any, spec: TinyModelSpec, workdir: Path) -> Any:
    from datasets import Dataset
    from transformers.utils import logging as hf_logging
    from trl import SFTConfig, SFTTrainer

    hf_logging.set_verbosity_error()
    model = new_qwen3(spec.arch(), tok, seed=spec.seed)
    args = SFTConfig(
        # bf16=False: TRL turns bf16 on by default, and emulated on a CPU without bf16 instructions it
        # made this build about 2x slower
        output_dir=str(workdir),
        assistant_only_loss=True,
        use_cpu=True,
        bf16=False,
        max_length=spec.max_length,
        per_device_train_batch_size=spec.batch_size,
        num_train_epochs=spec.epochs,
        learning_rate=spec.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=20,
        weight_decay=0.0,
        logging_steps=50,
        save_strategy="no",
        report_to="none",
        gradient_checkpointing=False,
        seed=spec.seed,
        data_seed=spec.seed,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok)
    trainer.train()
    return model.eval()


def main(argv: list[str] | None = None) -> int:
    """CLI: build (or reuse) the tiny model in ``--out``; prints its folder."""
    parser = argparse.ArgumentParser(
        prog="python -m writ_dagster.core.llm.tiny_model", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--out", default=None, help=f"model folder (default ${MODEL_DIR_ENV} or $WRIT_HOME/models/tiny-qwen3-tools)"
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if an up-to-date model is there")
    ns = parser.parse_args(argv)
    spec = TinyModelSpec()
    out = Path(ns.out).expanduser().resolve() if ns.out else default_model_dir()
    if ns.force and out.exists():
        shutil.rmtree(out)
    print(ensure_tiny_model(out, spec))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
