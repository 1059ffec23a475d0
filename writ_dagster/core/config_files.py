"""Reading a settings file a person wrote (``writ run --config``, a rehearsal fleet's config), bounded and strict.

A config file is input from outside, so it is read the way a careful tool reads untrusted input:
a regular file only (a FIFO would block, ``/dev/zero`` never ends), at most :data:`MAX_BYTES`,
UTF-8 only; YAML through a safe loader that refuses aliases (an alias bomb expands a few lines
into gigabytes), duplicate keys (the last one would win silently), documents nested deeper
than :data:`MAX_DEPTH` or holding more than :data:`MAX_NODES` values, keys that are not text,
numbers that are not finite (``.nan``, ``.inf``) and integers outside 64 bits. JSON gets the same
key, depth and number rules. Every refusal is a :class:`ConfigFileError` whose message
is one line and quotes at most the first characters of what it refuses.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 1 << 20  # a settings file; the largest WRIT ships is a few kB
MAX_DEPTH = 32
MAX_NODES = 100_000
QUOTE_CHARS = 60
MIN_INT, MAX_INT = -(2**63), 2**63 - 1  # DuckDB's BIGINT


class ConfigFileError(ValueError):
    """A settings file WRIT refuses to read (the message is one line)."""


def quote(value: object, limit: int = QUOTE_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages that name refused input."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more characters)"


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping a YAML (``.yaml``/``.yml``, any case) or JSON file holds, read under this module's limits."""
    file = Path(path)
    text = _read_text(file)
    if file.suffix.lower() in (".yaml", ".yml"):
        data = _parse_yaml(text, file)
    else:
        data = _parse_json(text, file)
    if not isinstance(data, dict):
        raise ConfigFileError(f"config file {file} must hold a mapping, got {type(data).__name__}")
    _check_values(data, file, depth=0)
    return data


def _read_text(file: Path) -> str:
    try:
        info = os.stat(file)
    except OSError as exc:
        raise ConfigFileError(f"cannot read config file {file}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigFileError(f"config file {file} is not a regular file")
    if info.st_size > MAX_BYTES:
        raise ConfigFileError(f"config file {file} is {info.st_size} bytes; at most {MAX_BYTES} are read")
    try:
        # O_NONBLOCK: the file could be swapped for a FIFO between the check and the open
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ConfigFileError(f"cannot read config file {file}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ConfigFileError(f"config file {file} is not a regular file")
        raw = handle.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise ConfigFileError(f"config file {file} is over {MAX_BYTES} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(
            f"config file {file} is not UTF-8 text (byte {exc.start}: {raw[exc.start : exc.start + 4]!r})"
        ) from None


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader without aliases or duplicate keys, with depth and size limits."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # noqa: ANN401 - PyYAML's signature
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise ConfigFileError(
                f"YAML aliases are not accepted (*{event.anchor[:QUOTE_CHARS]} at line "
                f"{event.start_mark.line + 1}): write the value out"
            )
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise ConfigFileError(f"more than {MAX_NODES} values in one document")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ConfigFileError(
                    f"nested deeper than {MAX_DEPTH} levels (line {self.peek_event().start_mark.line + 1})"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key (a list): refused by _check_keys with a clear message
                continue
            if duplicate:
                raise ConfigFileError(
                    f"key {quote(key)} appears twice in one mapping (line {key_node.start_mark.line + 1})"
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _parse_yaml(text: str, file: Path) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except ConfigFileError as exc:
        raise ConfigFileError(f"config file {file}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"config file {file} does not parse: {' '.join(str(exc).split())[:200]}") from None
    except RecursionError:
        raise ConfigFileError(f"config file {file}: nested too deeply") from None


def _parse_json(text: str, file: Path) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise ConfigFileError(f"config file {file}: key {quote(key)} appears twice in one object")
            out[key] = value
        return out

    try:
        return json.loads(text, object_pairs_hook=pairs)
    except ConfigFileError:
        raise
    except RecursionError:
        raise ConfigFileError(f"config file {file}: nested too deeply") from None
    except ValueError as exc:
        raise ConfigFileError(f"config file {file} does not parse: {' '.join(str(exc).split())[:200]}") from None


def _check_values(value: Any, file: Path, depth: int, where: str = "") -> None:
    if depth > MAX_DEPTH:
        raise ConfigFileError(f"config file {file}: nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigFileError(f"config file {file}: keys must be text, got {quote(key)} ({type(key).__name__})")
            _check_values(item, file, depth + 1, f"{where}.{key}" if where else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_values(item, file, depth + 1, f"{where}[{i}]")
    elif isinstance(value, float) and not math.isfinite(value):
        # .nan passes every comparison a validator makes; .inf breaks arithmetic later, after writing
        raise ConfigFileError(f"config file {file}: {where or 'the value'} is {value}; numbers must be finite")
    elif type(value) is int and not MIN_INT <= value <= MAX_INT:
        raise ConfigFileError(
            f"config file {file}: {where or 'the value'} is {quote(value, 30)}, outside the "
            "64-bit range every count and seed is stored in"
        )


def parse_value(text: str, where: str) -> Any:
    """One value written on a command line (``--set key=VALUE``), read as YAML under the same rules."""
    if len(text) > MAX_BYTES:
        raise ConfigFileError(f"{where}: the value is over {MAX_BYTES} bytes")
    try:
        value = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except ConfigFileError as exc:
        raise ConfigFileError(f"{where}: {exc}") from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise ConfigFileError(
            f"{where}: the value does not parse as YAML: {' '.join(str(exc).split())[:200]}"
        ) from None
    _check_values(value, Path(where), depth=0)
    return value
