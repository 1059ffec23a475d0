"""The success-rate check judges model-played partitions too: against a configured floor, not waved through."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from writ_dagster.cli.parser import build_parser
from writ_dagster.cli.settings import simulation_settings
from writ_dagster.core.simulation.audit import MODEL_SUCCESS_FLOOR, SCRIPTED_MIN_SUCCESS, success_report


def test_model_backends_are_held_to_the_floor_and_scripted_ones_to_95_percent() -> None:
    assert not success_report(0.05, 40, scripted=False).passed  # a broken endpoint: warned about
    assert success_report(MODEL_SUCCESS_FLOOR, 40, scripted=False).passed
    assert not success_report(0.5, 40, scripted=False, model_floor=0.6).passed
    assert "below 60%" in success_report(0.5, 40, scripted=False, model_floor=0.6).problems[0]
    assert not success_report(0.0, 0, scripted=False).passed  # nothing stored is no success
    assert not success_report(0.9, 40, scripted=True).passed and success_report(SCRIPTED_MIN_SUCCESS, 40, True).passed


def test_the_floor_is_set_in_the_simulation_section_and_kept_out_of_the_engine_config(tmp_path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("simulation: {model_success_floor: 0.4, variants: 3}\n")
    settings = simulation_settings(build_parser().parse_args(["run", "--config", str(config)]))
    assert settings.model_success_floor == 0.4 and settings.trajectory_config().variants == 3
    assert "model_success_floor" not in settings.trajectory_config().model_dump()  # resume keys unchanged
    config.write_text("simulation: {model_success_floor: 1.5}\n")
    with pytest.raises(ValidationError, match="model_success_floor"):
        simulation_settings(build_parser().parse_args(["run", "--config", str(config)]))
