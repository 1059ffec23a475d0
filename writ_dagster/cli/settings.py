"""The settings of ``writ run``, from ``--config`` and flags, each stage's checked before anything is
written (a refusal is a :class:`BadInput` or the validator's own error)."""

from __future__ import annotations

import argparse
import copy
import importlib.util
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from writ_dagster.cli.errors import BadInput, one_line
from writ_dagster.cli.parser import STAGES
from writ_dagster.core.config_files import ConfigFileError, parse_value, quote, read_config_file
from writ_dagster.core.home import UPSTREAM_ENV, upstream_tasks_dir
from writ_dagster.core.keys import DEFAULT_BATCH, batch_key
from writ_dagster.core.llm.devices import visible_gpus
from writ_dagster.core.sft.models import SFTConfig
from writ_dagster.core.simulation.settings import TrajectoryConfig
from writ_dagster.core.tasks.composers import get_composer
from writ_dagster.core.tasks.models import SynthesisConfig
from writ_dagster.core.tasks.synthesis import check_config
from writ_dagster.resources.evaluation import EvaluationSettings
from writ_dagster.resources.roles import ModelRole
from writ_dagster.resources.sft import SFTSettings
from writ_dagster.resources.simulation import SimulationSettings
from writ_dagster.resources.synthesis import SynthesisSettings
from writ_dagster.resources.training import TrainingSettings

_CONFIG_FLAGS = ("tasks_per_batch", "seed", "min_writes", "max_writes", "max_attempts_per_task")
# `writ run` flag -> TrajectoryConfig field
_SIMULATION_FLAGS = {
    "variants": "variants",
    "simulation_seed": "seed",
    "max_concurrency": "max_concurrency",
    "workers": "workers",
    "agent_backend": "agent_backend",
    "user_backend": "user_backend",
}
# --config file sections other than SynthesisConfig's fields, and what each holds
_STAGE_SECTIONS = {
    "simulation": "simulation settings",
    "sft": "SFT-set settings",
    "training": "TrainingSettings fields",
    "evaluation": "EvaluationSettings fields",
    "teacher": "ModelRole fields",
    "user_simulator": "ModelRole fields",
    "user_rewriter": "ModelRole fields",
}
_ROLES = ("teacher", "user_simulator", "user_rewriter")
# Stages that need the `llm` extra (torch, transformers, trl, vLLM), and a module each imports.
_LLM_STAGES = {"checkpoint": "trl", "evaluation": "vllm"}


def _load_config_file(path: str) -> dict[str, Any]:
    try:
        data = read_config_file(path)
    except ConfigFileError as exc:
        raise BadInput(str(exc)) from None
    _check_sections(data, f"config file {path}")
    return data


def _check_sections(data: dict[str, Any], where: str) -> None:
    for section, what in _STAGE_SECTIONS.items():
        if not isinstance(data.get(section, {}), dict):
            raise BadInput(f"{where}: '{section}' must be a mapping of {what}")


def merge_layers(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """``layer`` on top of ``base``: mappings merge key by key, any other value replaces the one below.

    A mapping that names another ``kind`` than the one below (a model role moved from a served vLLM
    to endpoints) replaces it whole: the options of one kind mean nothing to another."""
    out = dict(base)
    for key, value in layer.items():
        below = out.get(key)
        if (
            isinstance(below, dict)
            and isinstance(value, dict)
            and below.get("kind", value.get("kind")) == value.get("kind", below.get("kind"))
        ):
            out[key] = merge_layers(below, value)
        else:
            out[key] = value
    return out


def parse_set(item: str) -> dict[str, Any]:
    """One ``--set a.b.c=VALUE`` as the nested mapping ``{a: {b: {c: VALUE}}}``; VALUE is read as YAML
    (``4``, ``true``, ``[x, y]``, ``{k: v}``; anything else stays text)."""
    path, sep, text = item.partition("=")
    keys = path.strip().split(".")
    if not sep or not all(k.strip() for k in keys):
        raise BadInput(f"--set takes KEY=VALUE with a dotted key (e.g. simulation.attempts=4), got {item[:80]!r}")
    try:
        value: Any = parse_value(text, f"--set {path}") if text.strip() else None
    except ConfigFileError as exc:
        raise BadInput(str(exc)) from None
    for key in reversed(keys):
        value = {key.strip(): value}
    return value


def load_config(args: argparse.Namespace) -> dict[str, Any]:
    """The run's settings from every ``--config`` file in order, then every ``--set``, each layer merged
    over the ones before (:func:`merge_layers`); a fresh copy on each call (callers take keys out)."""
    cached = getattr(args, "_layered_config", None)
    if cached is None:
        cached = {}
        for path in _config_paths(args):
            cached = merge_layers(cached, _load_config_file(path))
        for item in getattr(args, "set", None) or []:
            cached = merge_layers(cached, parse_set(item))
        _check_sections(cached, "the layered config")
        args._layered_config = cached
    return copy.deepcopy(cached)


def _config_paths(args: argparse.Namespace) -> list[str]:
    paths = getattr(args, "config", None)
    if paths is None:
        return []
    return [paths] if isinstance(paths, str) else list(paths)


def synthesis_settings(args: argparse.Namespace, domains: list[str]) -> SynthesisSettings:
    """Synthesis settings from --config and flags, validated against every chosen domain's composer."""
    fields = load_config(args)
    for section in (*_STAGE_SECTIONS, "batches"):  # each read by its own *_settings
        fields.pop(section, None)
    upstream = fields.pop("upstream_tasks_dir", None)
    if upstream is not None and not isinstance(upstream, str):
        raise BadInput(f"upstream_tasks_dir must be a path, got {quote(upstream)}")
    effective = upstream or upstream_tasks_dir()
    if effective is not None and not Path(effective).is_dir():
        source = "upstream_tasks_dir" if upstream else UPSTREAM_ENV
        raise BadInput(f"{source} {effective!r} is not a directory")
    fields.update({k: getattr(args, k) for k in _CONFIG_FLAGS if getattr(args, k) is not None})
    config = SynthesisConfig(**fields)  # ValidationError: 0 writes, negative counts, unknown fields
    for domain in domains:
        try:
            composer = get_composer(domain)
        except (ImportError, ValueError) as exc:
            raise BadInput(f"no task composer for domain {domain!r}: {one_line(exc)}") from None
        check_config(config, composer)  # ImpossibleConfigError: more writes than the composer places
    return SynthesisSettings(**config.model_dump(), upstream_tasks_dir=upstream)


def simulation_settings(args: argparse.Namespace) -> SimulationSettings:
    """Simulation settings from --config's ``simulation`` mapping and flags, validated."""
    fields = dict(load_config(args).get("simulation") or {})
    fields.update(
        {field: getattr(args, flag) for flag, field in _SIMULATION_FLAGS.items() if getattr(args, flag) is not None}
    )
    if args.fresh:
        fields["resume"] = False
    floor = {k: fields.pop(k) for k in ("model_success_floor",) if k in fields}  # the check's, not the engine's
    config = TrajectoryConfig(**fields)  # ValidationError: 0 variants, concurrency < 1, unknown backend
    return SimulationSettings(**config.model_dump(), **floor)


def sft_settings(args: argparse.Namespace) -> SFTSettings:
    """SFT-set settings from --config's ``sft`` mapping, validated."""
    fields = dict(load_config(args).get("sft") or {})
    output_dir = fields.pop("output_dir", None)
    if output_dir is not None and not isinstance(output_dir, str):
        raise BadInput(f"sft.output_dir must be a path, got {quote(output_dir)}")
    config = SFTConfig(**fields)  # ValidationError: unknown mixture cell, negative target, unknown field
    return SFTSettings(**config.model_dump(), output_dir=output_dir)


def _refuse_unknown(section: str, fields: dict[str, Any], known: type[BaseModel]) -> None:
    """Refuse keys of a config section that ``known`` (a Dagster resource, which would ignore them) lacks."""
    unknown = sorted(str(k) for k in set(fields) - set(known.model_fields))
    if unknown:
        raise BadInput(
            f"invalid {section} settings: unknown field(s) {', '.join(unknown)}; known: {', '.join(known.model_fields)}"
        )


def training_settings(args: argparse.Namespace) -> TrainingSettings:
    """Training settings from --config's ``training`` mapping, validated (the recipe resolved)."""
    fields = dict(load_config(args).get("training") or {})
    _refuse_unknown("training", fields, TrainingSettings)
    try:
        settings = TrainingSettings(**fields)
        settings.training_recipe()  # unknown recipe or override, bf16 on CPU, ...
    except (ValidationError, ValueError, TypeError) as exc:
        raise BadInput(f"invalid training settings: {one_line(exc)}") from None
    return settings


def evaluation_settings(args: argparse.Namespace) -> EvaluationSettings:
    """Evaluation settings from --config's ``evaluation`` mapping, validated."""
    fields = dict(load_config(args).get("evaluation") or {})
    _refuse_unknown("evaluation", fields, EvaluationSettings)
    try:
        settings = EvaluationSettings(**fields)
        settings.eval_config()  # unknown domain or task, no trials, ...
    except (ValidationError, ValueError, TypeError) as exc:
        raise BadInput(f"invalid evaluation settings: {one_line(exc)}") from None
    return settings


def config_batches(args: argparse.Namespace) -> list[str]:
    """The batch keys to run: --batch flags, else --config's ``batches`` (a count or a list of keys)."""
    if args.batch:
        return args.batch
    wanted = load_config(args).get("batches")
    if wanted is None:
        return [DEFAULT_BATCH]
    if isinstance(wanted, int) and not isinstance(wanted, bool) and wanted >= 1:
        return [batch_key(n) for n in range(wanted)]
    if isinstance(wanted, list) and wanted and all(isinstance(k, str) for k in wanted):
        return wanted
    raise BadInput(f"batches must be a positive count or a list of batch keys, got {quote(wanted)}")


def role_settings(args: argparse.Namespace) -> dict[str, ModelRole]:
    """The ``teacher``, ``user_simulator`` and ``user_rewriter`` resources from --config, validated
    (nothing started)."""
    roles = {}
    for role in _ROLES:
        fields = dict(load_config(args).get(role) or {})
        _refuse_unknown(role, fields, ModelRole)  # a Dagster resource would drop a misspelled key silently
        try:
            roles[role] = ModelRole(**fields)
            roles[role].spec()  # unknown option or bad value of the chosen kind
        except (ValidationError, ValueError, TypeError) as exc:
            raise BadInput(f"invalid {role} settings: {one_line(exc)}") from None
    return roles


def check_machine(until: str, roles: dict[str, ModelRole], training: TrainingSettings) -> None:
    """Refuse, before anything is written, a run whose models need GPUs or endpoints this machine lacks."""
    lacks = [phrase for role in _ROLES for phrase in roles[role].missing(role, roles["teacher"])]
    if STAGES.index(until) >= STAGES.index("checkpoint"):
        recipe = training.training_recipe()
        if recipe.device == "gpu" and visible_gpus() < 1:
            lacks.append(f"training: recipe {recipe.name} needs a GPU, 0 visible")
    if lacks:
        raise BadInput(
            "this machine cannot run it: " + "; ".join(lacks) + " (run on a GPU node, or point "
            "teacher and user_simulator at endpoints: kind openai-compatible, options.base_urls)"
        )


def check_llm_extra(until: str) -> None:
    """Refuse, before anything is written, to run a stage whose packages are not installed."""
    for stage, module in _LLM_STAGES.items():
        if STAGES.index(stage) <= STAGES.index(until) and importlib.util.find_spec(module) is None:
            raise BadInput(
                f"the {stage} stage needs the `llm` extra ({module} is not installed): "
                "pip install -e '.[llm]' (see the README), or stop earlier with --until sft"
            )
