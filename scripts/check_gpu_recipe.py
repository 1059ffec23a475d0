"""Run the GPU training recipe's code path once, on a small model built here, and print what it did.

For a lent GPU machine that has torch, transformers, peft and accelerate but no network, no tau2,
no vLLM and no Dagster (carry trl, and datasets if missing). From the repository root:

    python scripts/check_gpu_recipe.py [--steps 30] [--workdir DIR] [--no-accelerate]

``--cpu`` runs the same steps on CPU in float32 (no bf16): a self-test of this script, not of the
GPU path.

What it runs, all with the project's own training code (``writ_dagster.core.training``):

1. a small Qwen3 built from a config (4 layers, hidden 256, grouped-query attention like
   Qwen3-4B) with a byte-level BPE tokenizer trained here, whose chat template is Qwen3-4B-
   Instruct-2507's own (the copy TRL ships), so TRL swaps in its training template with
   ``{% generation %}`` markers exactly as it does for the real base model;
2. a synthetic SFT split in the WRIT export format (``messages`` with tool-call arguments as
   JSON text, ``tools`` as JSON text);
3. ``gpu-qwen3-4b-lora`` (bf16, LoRA r=64 on all linear layers, assistant-only loss, merged at the
   end) and ``gpu-qwen3-4b`` (full fine-tuning, bf16) with only the base model, step count,
   learning rate and sequence length overridden (printed), through ``train_checkpoint``: the
   ``.partial`` folder, the completion marker, the rename;
4. the LoRA recipe once more under ``accelerate launch`` (``pipes_main --job``), as the
   ``checkpoint`` asset's accelerate launcher starts it;
5. checks: loss fell, the assistant mask covers agent turns only, the checkpoint is complete,
   loads in bf16 on the GPU and generates, and keeps the original (serving) chat template.

Exit status 0 when every check holds; a JSON summary is the last line printed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the project's code from this tree, installed or not

NEEDED = ("torch", "transformers", "trl", "datasets", "peft", "accelerate", "tokenizers", "pydantic", "pyarrow")
FORBIDDEN = ("tau2", "vllm", "dagster", "duckdb", "polars")  # the training code must not need them


def preflight(cpu: bool = False) -> dict[str, str]:
    """Versions of the training stack; exits naming whatever is missing."""
    versions, missing = {}, []
    for name in NEEDED:
        try:
            versions[name] = getattr(importlib.import_module(name), "__version__", "?")
        except ImportError as exc:
            missing.append(f"{name} ({exc})")
    if missing:
        sys.exit("missing packages: " + "; ".join(missing))
    import torch

    if cpu:
        versions["device"] = "cpu (self-test)"
        return versions
    if not torch.cuda.is_available():
        sys.exit("no CUDA device visible to torch")
    if not torch.cuda.is_bf16_supported():
        sys.exit(f"{torch.cuda.get_device_name(0)} does not support bf16")
    versions["device"] = torch.cuda.get_device_name(0)
    versions["cuda"] = str(torch.version.cuda)
    return versions


# -- synthetic WRIT-format data ----------------------------------------------------------------

SYSTEM = (
    "You are a customer service agent for an airline. Follow the policy. Look up the user before "
    "changing anything, and confirm every write with the user first."
)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_user_details",
            "description": "Get a user's profile.",
            "parameters": {"type": "object", "properties": {"user_id": {"type": "string"}}, "required": ["user_id"]},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "cancel_reservation",
            "description": "Cancel a reservation.",
            "parameters": {
                "type": "object",
                "properties": {"reservation_id": {"type": "string"}, "reason": {"type": "string"}},
                "required": ["reservation_id", "reason"],
            },
        },
    },
]
NAMES = ["mia_li", "omar_khan", "sara_lopez", "yusuf_ito", "emma_berg", "raj_patel", "lena_novak", "tom_reed"]
REASONS = ["change of plan", "airline cancelled flight", "other"]


def _msg(role: str, content: str | None = None, calls: list | None = None, call_id: str | None = None) -> dict:
    return {"role": role, "content": content, "tool_calls": calls, "tool_call_id": call_id}


def synthetic_rows(n: int, seed: int = 0) -> list[dict]:
    """``n`` conversations shaped like WRIT's: greeting, user request, look-up, confirmation, write."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        user = f"{rng.choice(NAMES)}_{rng.randint(1000, 9999)}"
        res = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(6))
        reason = rng.choice(REASONS)
        details = json.dumps({"user_id": user, "reservations": [res], "membership": rng.choice(["gold", "silver"])})
        call1 = [
            {
                "id": f"c{i}a",
                "type": "function",
                "function": {"name": "get_user_details", "arguments": json.dumps({"user_id": user})},
            }
        ]
        call2 = [
            {
                "id": f"c{i}b",
                "type": "function",
                "function": {
                    "name": "cancel_reservation",
                    "arguments": json.dumps({"reservation_id": res, "reason": reason}),
                },
            }
        ]
        messages = [
            _msg("system", SYSTEM),
            _msg("assistant", "Hi! How can I help you today?"),
            _msg("user", f"Hi, I want to cancel reservation {res}. My user id is {user}."),
            _msg("assistant", None, call1),
            _msg("tool", details, call_id=f"c{i}a"),
            _msg("assistant", f"I found reservation {res}. Why do you want to cancel it?"),
            _msg("user", f"Reason: {reason}. Please go ahead."),
            _msg("assistant", None, call2),
            _msg("tool", json.dumps({"status": "cancelled"}), call_id=f"c{i}b"),
            _msg("assistant", f"Reservation {res} is cancelled. Anything else?"),
        ]
        rows.append(
            {
                "domain": "airline",
                "trajectory_type": "normal",
                "has_user_script": bool(i % 2),
                "messages": messages,
                "tools": json.dumps(TOOLS),
            }
        )
    return rows


def qwen_style_tokenizer(corpus: list[str], template: str):
    """A byte-level BPE tokenizer with Qwen3's special and tool tokens and the given chat template."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    core.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=1024,
            special_tokens=special,
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
        clean_up_tokenization_spaces=False,
    )
    tok.add_tokens(
        [
            AddedToken(t, special=False, normalized=False)
            for t in ("<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>")
        ]
    )
    tok.chat_template = template
    return tok


# -- the checks ----------------------------------------------------------------------------------


def build_inputs(work: Path, rows: int) -> tuple[Path, Path, str]:
    """The small base model folder and the SFT Parquet; returns them and the serving template."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import trl

    from writ_dagster.core.training.qwen3 import Qwen3Arch, new_qwen3, save_model_dir

    template = (Path(trl.__file__).parent / "chat_templates" / "qwen3_instruct_2507.jinja").read_text()
    data = synthetic_rows(rows)
    corpus = [m["content"] or "" for r in data for m in r["messages"]] + [json.dumps(TOOLS)]
    corpus += [c["function"]["arguments"] for r in data for m in r["messages"] for c in (m["tool_calls"] or [])]
    tok = qwen_style_tokenizer(corpus, template)
    arch = Qwen3Arch(
        hidden_size=256,
        intermediate_size=768,
        num_layers=4,
        num_heads=4,
        num_kv_heads=2,
        head_dim=64,
        max_position_embeddings=8192,
        tie_word_embeddings=True,
    )
    base = work / "small-qwen3-base"
    save_model_dir(new_qwen3(arch, tok, seed=0), tok, base)
    parquet = work / "sft" / "train.parquet"
    parquet.parent.mkdir(parents=True, exist_ok=True)
    # written with pyarrow, as the SFT export writes it (datasets' in-memory fingerprinting pickles
    # pyarrow types, which fails under some Python/dill pairs)
    pq.write_table(pa.Table.from_pylist(data), str(parquet))
    return base, parquet, template


def check_mask(job, base: Path) -> dict:
    """TRL swapped in a training template, and the loss mask covers exactly the agent turns."""
    from datasets import Dataset

    from writ_dagster.core.training.sft_train import build_trainer

    trainer = build_trainer(job, str(base), output_dir=Path(job.out).parent / "mask-trainer")
    row = trainer.train_dataset[0]
    source = Dataset.from_parquet(job.train_path)[0]["messages"]
    spans, cur = [], []
    for tid, lab in zip(row["input_ids"], row["labels"]):
        if lab != -100:
            cur.append(tid)
        elif cur:
            spans.append(trainer.processing_class.decode(cur))
            cur = []
    if cur:
        spans.append(trainer.processing_class.decode(cur))
    agent_turns = sum(m["role"] == "assistant" for m in source)
    ok = (
        trainer.chat_template is not None
        and len(spans) == agent_turns
        # each span ends the turn: <|im_end|> (Qwen's training template also trains the newline after it)
        and all(
            s.rstrip("\n").endswith("<|im_end|>") and "<|im_start|>" not in s and "<tool_response>" not in s
            for s in spans
        )
    )
    return {
        "training_template_swapped_in": trainer.chat_template is not None,
        "trained_spans": len(spans),
        "agent_turns": agent_turns,
        "first_span": spans[0] if spans else None,
        "ok": ok,
    }


DEVICE = "cuda"
CPU_OVERRIDES = {"device": "cpu", "dtype": "float32", "bf16": False, "gradient_checkpointing": False}


def check_checkpoint(path: Path, template: str) -> dict:
    """The folder is complete and loads in bf16 on the GPU, generates, and serves with the original template."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from writ_dagster.core.training import COMPLETE_MARKER

    manifest = json.loads((path / COMPLETE_MARKER).read_text())
    tok = AutoTokenizer.from_pretrained(path)
    dtype = torch.bfloat16 if DEVICE == "cuda" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(DEVICE)
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "cancel my trip"}],
        tools=TOOLS,
        add_generation_prompt=True,
        return_dict=True,
        return_tensors="pt",
    ).to(DEVICE)
    out = model.generate(**prompt, max_new_tokens=24, do_sample=False)
    text = tok.decode(out[0, prompt["input_ids"].shape[1] :])
    from safetensors import safe_open

    with safe_open(str(path / "model.safetensors"), "pt") as fh:
        dtypes = sorted({str(fh.get_tensor(k).dtype) for k in list(fh.keys())[:8]})
    curve = manifest["loss_curve"]
    ok = (
        not path.with_name(path.name + ".partial").exists()
        and tok.chat_template == template
        and curve[-1][1] < curve[0][1]
        and not any("adapter" in f["path"] for f in manifest["files"])
    )
    return {
        "checkpoint": str(path),
        "steps": manifest["steps"],
        "first_loss": curve[0][1],
        "final_loss": manifest["final_loss"],
        "eval_loss": manifest["eval_loss"],
        "seconds": manifest["seconds"],
        "saved_dtypes": dtypes,
        "files": [f["path"] for f in manifest["files"]],
        "serving_template_is_original": tok.chat_template == template,
        "generated": text,
        "ok": ok,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rows", type=int, default=96)
    parser.add_argument("--workdir", default=None, help="default: a temporary folder, removed afterwards")
    parser.add_argument("--no-accelerate", action="store_true", help="skip the `accelerate launch` run")
    parser.add_argument("--cpu", action="store_true", help="self-test of this script on CPU, float32")
    ns = parser.parse_args(argv)
    global DEVICE
    DEVICE = "cpu" if ns.cpu else "cuda"
    started = time.perf_counter()
    summary: dict = {"versions": preflight(ns.cpu)}
    print("stack:", json.dumps(summary["versions"]), flush=True)

    import torch

    from writ_dagster.core.training.recipes import get_recipe
    from writ_dagster.core.training.sft_train import TrainJob, train_checkpoint

    work = Path(ns.workdir or tempfile.mkdtemp(prefix="writ-gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        base, parquet, template = build_inputs(work, ns.rows)
        print(f"small base model: {base}; SFT split: {parquet} ({ns.rows} rows)", flush=True)
        results = {}
        for name, lr in (("gpu-qwen3-4b-lora", 2e-3), ("gpu-qwen3-4b", 1e-3)):
            # only what a small random model needs differs from the recipe: base, length, steps, lr, batch
            overrides = {
                "base_model": str(base),
                "max_steps": ns.steps,
                "max_length": 1024,
                "learning_rate": lr,
                "per_device_train_batch_size": 4,
                "gradient_accumulation_steps": 2,
                "logging_steps": 5,
                "warmup_steps": 3,
                **(CPU_OVERRIDES if ns.cpu else {}),
            }
            recipe = get_recipe(name, overrides)
            job = TrainJob(
                recipe=recipe, train_path=str(parquet), out=str(work / "checkpoints" / name), sft_version="synthetic"
            )
            print(
                f"\n== {name}: recipe overrides {json.dumps(overrides)}; kept: bf16={recipe.bf16} "
                f"dtype={recipe.dtype} lora={recipe.lora} assistant_only_loss={recipe.assistant_only_loss} "
                f"packing={recipe.packing} gradient_checkpointing={recipe.gradient_checkpointing} "
                f"scheduler={recipe.lr_scheduler_type}",
                flush=True,
            )
            mask = check_mask(job, base) if name.endswith("lora") else None
            if mask is not None:
                print("assistant-only mask:", json.dumps(mask), flush=True)
            if not ns.cpu:
                torch.cuda.reset_peak_memory_stats()
            result = train_checkpoint(
                job, on_log=lambda p: print(f"  step {p['step']}: loss {p['loss']:.4f}", flush=True), say=print
            )
            checked = check_checkpoint(Path(result.checkpoint), template)
            if not ns.cpu:
                checked["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
            checked["mask"] = mask
            checked["ok"] = checked["ok"] and (mask is None or mask["ok"])
            print(f"{name}: " + json.dumps({k: v for k, v in checked.items() if k != "files"}), flush=True)
            results[name] = checked
        if not ns.no_accelerate:
            results["accelerate-launch"] = run_under_accelerate(work, base, parquet, template, ns.steps, ns.cpu)
        summary["results"] = results
        summary["forbidden_modules_loaded"] = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)
        summary["ok"] = all(r["ok"] for r in results.values()) and not summary["forbidden_modules_loaded"]
    finally:
        if not ns.workdir:
            shutil.rmtree(work, ignore_errors=True)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(summary))
    return 0 if summary["ok"] else 1


def run_under_accelerate(work: Path, base: Path, parquet: Path, template: str, steps: int, cpu: bool) -> dict:
    """The LoRA recipe through ``accelerate launch -m writ_dagster.core.training.pipes_main --job``."""
    from writ_dagster.core.training.recipes import get_recipe
    from writ_dagster.core.training.sft_train import TrainJob

    recipe = get_recipe(
        "gpu-qwen3-4b-lora",
        {
            "base_model": str(base),
            "max_steps": steps,
            "max_length": 1024,
            "learning_rate": 2e-3,
            "per_device_train_batch_size": 4,
            "logging_steps": 10,
            "warmup_steps": 3,
            **(CPU_OVERRIDES if cpu else {}),
        },
    )
    out = work / "checkpoints" / "accelerate"
    job_file = work / "job.json"
    job_file.write_text(
        TrainJob(recipe=recipe, train_path=str(parquet), out=str(out), sft_version="synthetic").model_dump_json()
    )
    import torch

    gpus = 0 if cpu else torch.cuda.device_count()
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        str(max(1, gpus)),
        "--mixed_precision",
        "no" if cpu else "bf16",
        *(["--cpu"] if cpu else []),
        *(["--multi_gpu"] if gpus > 1 else []),
        "-m",
        "writ_dagster.core.training.pipes_main",
        "--job",
        str(job_file),
    ]
    print("\n== accelerate:", " ".join(command), flush=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    tail = (proc.stdout + proc.stderr)[-1500:]
    print(tail, flush=True)
    if proc.returncode != 0:
        return {"ok": False, "returncode": proc.returncode, "tail": tail}
    checked = check_checkpoint(out, template)
    checked["processes"] = max(1, gpus)
    print("accelerate-launch: " + json.dumps({k: v for k, v in checked.items() if k != "files"}), flush=True)
    return checked


if __name__ == "__main__":
    raise SystemExit(main())
