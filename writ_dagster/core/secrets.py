"""Secrets never enter settings: a key is given by the NAME of the environment variable that holds
it (``api_key_env``), never as a literal, and a URL never carries a user name or password.

Settings end up in DuckDB rows, in Dagster's run history (served by its GraphQL API) and in logs,
so a literal secret is refused where settings are validated, before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

# Option names that hold a secret's value; ``*_env`` names (the variable to read it from) are fine.
_SECRET_NAME = re.compile(
    r"(?:^|_)(?:api_?key|key|token|secret|password|passwd|auth|authorization|bearer|"
    r"credentials?)$",
    re.IGNORECASE,
)
_FLAG = re.compile(r"^--?([A-Za-z][A-Za-z0-9_-]*)(?:=.*)?$", re.DOTALL)


def is_secret_name(name: str) -> bool:
    """Whether an option (or query parameter, or command-line flag) of this name holds a secret's value:
    ``api_key``, ``token``, ``password``... but not ``api_key_env`` (a variable's name) nor ``max_tokens``."""
    key = name.strip().lstrip("-").replace("-", "_")
    return bool(_SECRET_NAME.search(key)) and not key.lower().endswith("_env")


def redact_url(url: str) -> str:
    """``url`` without the user name and password it may carry and with the values of secret-looking query
    parameters masked (``http://u:p@h/v1?token=t`` -> ``http://***@h/v1?token=***``)."""
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return "***"
    if "@" in parts.netloc:
        parts = parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1])
    if any(is_secret_name(k) for k, _ in query):
        parts = parts._replace(query="&".join(f"{k}={'***' if is_secret_name(k) else v}" for k, v in query))
    return urlunsplit(parts)


def _flag_secret(arg: str) -> str | None:
    """The flag name if ``arg`` is a command-line flag naming a secret (``--api-key``, ``--token=...``)."""
    match = _FLAG.match(arg)
    return match.group(1) if match and is_secret_name(match.group(1)) else None


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, str)]
    return []


def check_no_secrets(where: str, options: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` (naming ``where`` and the option, never the value) if ``options`` holds a
    literal secret or a URL with credentials; nested mappings are checked too."""
    for name, value in options.items():
        key = str(name)
        if is_secret_name(key) and value not in (None, ""):
            if where.endswith(".env"):  # variables set for a server process: it inherits writ's own
                raise ValueError(
                    f"{where}.{key} is a literal secret, refused: export {key} in the environment "
                    "`writ` runs in instead (the servers it starts inherit it)"
                )
            raise ValueError(
                f"{where}.{key} is a literal secret, refused: put it in an environment variable "
                f"and give that variable's name as {key}_env"
            )
        for text in _texts(value):
            if "://" in text and redact_url(text) != text:
                raise ValueError(
                    f"{where}.{key} has a URL with credentials ({redact_url(text)[:200]}), refused: "
                    "give the key by variable name (api_key_env)"
                )
            flag = _flag_secret(text)  # a list of command-line arguments (server_extra_args)
            if flag is not None:
                raise ValueError(
                    f"{where}.{key} passes a secret on the command line (--{flag}), refused: "
                    "command lines are visible to every process and stored with the settings; "
                    "give the key by variable name (api_key_env)"
                )
        if isinstance(value, Mapping):
            check_no_secrets(f"{where}.{key}", value)
