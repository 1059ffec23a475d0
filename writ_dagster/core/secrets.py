"""Secrets never enter settings: a key is given by the NAME of the environment variable that holds
it (``api_key_env``), never as a literal, and a URL never carries a user name or password.

Settings end up in DuckDB rows, in Dagster's run history (served by its GraphQL API) and in logs,
so a literal secret is refused where settings are validated, before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# Option names that hold a secret's value; ``*_env`` names (the variable to read it from) are fine.
_SECRET_NAME = re.compile(r"(?:^|_)(?:api_?key|key|token|secret|password|passwd|auth|authorization|bearer|"
                          r"credentials?)$", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` without the user name and password it may carry (``http://u:p@h/v1`` -> ``http://***@h/v1``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def _urls(value: Any) -> list[str]:
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
        if _SECRET_NAME.search(key) and not key.endswith("_env") and value not in (None, ""):
            raise ValueError(f"{where}.{key} is a literal secret, refused: put it in an environment variable "
                             f"and give that variable's name as {key}_env")
        for url in _urls(value):
            if "://" in url and redact_url(url) != url:
                raise ValueError(f"{where}.{key} has a URL with credentials ({redact_url(url)}), refused: "
                                 "give the key by variable name (api_key_env)")
        if isinstance(value, Mapping):
            check_no_secrets(f"{where}.{key}", value)
