"""The base of every settings model a person fills in (a ``--config`` section, a resource's core settings).

Pydantic's lax mode takes ``true`` for 1 where a number goes (``tasks_per_batch: true`` ran one task)
and lets ``.nan`` through every bound (``nan < 0`` is false) to fail later, after rows were written.
Settings are read before anything is written, so they are refused here instead.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


def _takes_number(annotation: Any) -> bool:
    """Whether a field of this type holds a number (int or float, optional or not) and never a bool."""
    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        return bool not in args and any(a in (int, float) for a in args)
    return False


class SettingsModel(BaseModel):
    """Finite numbers only, and no yes/no where a number goes."""

    model_config = ConfigDict(allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, field in cls.model_fields.items():
                for key in {name, field.alias} - {None}:
                    if isinstance(data.get(key), bool) and _takes_number(field.annotation):
                        raise ValueError(f"{name} must be a number, got {data[key]}")
        return data
