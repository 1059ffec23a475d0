"""τ²-bench evaluation of fine-tuned checkpoints: vLLM-served models played by tau2's own harness.

- :mod:`.models`: settings (:class:`EvalConfig`, :class:`UserModelSpec`) and records (:class:`ModelScore`);
- :mod:`.metrics`: pass^k, rewards and agent tokens of a tau2 ``Results`` (pure);
- :mod:`.harness`: one model on one domain through ``tau2.run.run_task``, saved as a tau2 results file;
- the servers (agent per model, user once) and the loop over models and domains are the stage
  :mod:`writ_dagster.core.stages.evaluation`.
"""

from writ_dagster.core.evaluation.models import EvalConfig, ModelScore, ScoreFigures, ServerFlags, UserModelSpec

__all__ = ["EvalConfig", "ModelScore", "ScoreFigures", "ServerFlags", "UserModelSpec"]
