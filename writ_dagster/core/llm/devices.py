"""How many GPUs this process may use, without importing torch when it can be helped.

A run that needs GPUs (a managed vLLM teacher, a GPU training recipe) is refused before it
writes anything when they are not there; this is the count that check uses.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess

VISIBLE_ENV = "CUDA_VISIBLE_DEVICES"


def visible_gpus() -> int:
    """NVIDIA GPUs this process can use: ``nvidia-smi -L``'s count, narrowed by ``CUDA_VISIBLE_DEVICES``.

    Falls back to torch's count where ``nvidia-smi`` is missing; 0 where neither is there.
    """
    listed = os.environ.get(VISIBLE_ENV)
    if listed is not None:
        wanted = [d for d in listed.split(",") if d.strip()]
        if not wanted or wanted[0].strip() == "-1":  # CUDA's own "no device" spellings
            return 0
    present = _nvidia_smi_count()
    if present is None:
        present = _torch_count()
    return present if listed is None else min(present, len(wanted))


def _nvidia_smi_count() -> int | None:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return 0  # the tool is there but sees no driver or no device
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


def _torch_count() -> int:
    if importlib.util.find_spec("torch") is None:
        return 0
    import torch

    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
