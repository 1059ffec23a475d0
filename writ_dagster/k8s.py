"""Kubernetes settings that travel with the code: the GPU request of WRIT's GPU steps.

Ignored everywhere but on Kubernetes. ``dagster-k8s`` reads the ``dagster-k8s/config`` tag from
a run's tags (``K8sRunLauncher``: the run's pod) and from a step's op tags (``k8s_job_executor``:
the step's pod). The ``checkpoint`` and ``evaluation`` assets carry :func:`gpu_op_tags`, and
so does any job that materializes them, so their pod is scheduled on a GPU node whichever way
runs are launched (see ``docs/scale-out.md``).
"""

from __future__ import annotations

import json
from typing import Any

K8S_CONFIG_TAG = "dagster-k8s/config"
GPU_RESOURCE = "nvidia.com/gpu"


def gpu_k8s_config(gpus: int = 1, memory: str = "64Gi", cpu: str = "8") -> dict[str, Any]:
    """The ``dagster-k8s/config`` value for a pod with ``gpus`` NVIDIA GPUs (device plugin resource)."""
    if gpus < 1:
        raise ValueError(f"a GPU pod needs at least 1 GPU, got {gpus}")
    return {
        # GPUs are requested through limits (Kubernetes sets the request equal); CPU and memory for
        # the data loader, the vLLM server's scheduler and the tokenizer.
        "container_config": {
            "resources": {
                "limits": {GPU_RESOURCE: str(gpus), "memory": memory},
                "requests": {"cpu": cpu, "memory": memory},
            }
        },
        # GPU nodes are usually tainted so that CPU pods stay off them.
        "pod_spec_config": {"tolerations": [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]},
    }


def gpu_op_tags(gpus: int = 1, **resources: str) -> dict[str, str]:
    """Op or job tags that give a step's (or a run's) pod ``gpus`` GPUs on Kubernetes."""
    return {K8S_CONFIG_TAG: json.dumps(gpu_k8s_config(gpus, **resources), sort_keys=True)}
