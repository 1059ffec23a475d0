"""A small checker of tool-call arguments against a tool's OpenAI JSON schema.

tau2 does not validate arguments: it calls the tool and reports whatever exception comes
back. The engine does the same (so replay reproduces every result), and uses this check
only to count schema-breaking calls in the record.
"""

from __future__ import annotations

from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def schema_problems(arguments: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Violations of ``schema`` (an OpenAI function schema or its ``parameters``) by ``arguments``."""
    params = schema.get("function", {}).get("parameters", schema)
    defs = params.get("$defs", {})
    return _check(arguments, params, defs, "arguments")


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return defs.get(ref.rsplit("/", 1)[1], {})
    return node


def _check(value: Any, node: dict[str, Any], defs: dict[str, Any], path: str) -> list[str]:
    node = _resolve(node, defs)
    for key in ("anyOf", "oneOf"):
        if key in node:
            options = [_check(value, opt, defs, path) for opt in node[key]]
            return [] if any(not o for o in options) else [f"{path}: matches none of {key}"]
    kind = node.get("type")
    scalar = _scalar_problem(value, node, kind, path)
    if scalar is not None:
        return [scalar]  # a wrong type or value says all there is to say: its members are not checked
    problems: list[str] = []
    if isinstance(value, dict) and ("properties" in node or kind == "object"):
        problems += _object_problems(value, node, defs, path)
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        for i, item in enumerate(value):
            problems += _check(item, node["items"], defs, f"{path}[{i}]")
    return problems


def _scalar_problem(value: Any, node: dict[str, Any], kind: Any, path: str) -> str | None:
    """The value's own violation of ``node``'s ``type`` or ``enum`` (None if it has none)."""
    if kind in _TYPES:
        # bool is an int in Python, but not an integer or number in JSON schema
        ok = isinstance(value, _TYPES[kind]) and not (kind in ("integer", "number") and isinstance(value, bool))
        if not ok:
            return f"{path}: expected {kind}, got {type(value).__name__}"
    if "enum" in node and value not in node["enum"]:
        return f"{path}: {value!r} not one of {node['enum']}"
    return None


def _object_problems(value: dict[str, Any], node: dict[str, Any], defs: dict[str, Any], path: str) -> list[str]:
    """Missing required keys, unexpected keys and the problems of each known property's value."""
    props = node.get("properties", {})
    problems = [f"{path}: missing required {req!r}" for req in node.get("required", []) if req not in value]
    for key, sub in value.items():
        if key in props:
            problems += _check(sub, props[key], defs, f"{path}.{key}")
        elif props and node.get("additionalProperties", False) is False:
            problems.append(f"{path}: unexpected {key!r}")
    return problems
