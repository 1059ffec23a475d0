"""A stored conversation as a person reads it: who said what, tool calls and results one line each.

Pure (no database, no tau2): it reads τ² message dicts as the ``trajectories`` table stores them
(``messages_json``). Used by ``writ show`` and by the samples in the assets' metadata.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

ROLE_WIDTH = 6  # "agent ", "user  ", "tool  "


class Call(BaseModel):
    """One tool call of a conversation, with whether it writes and whether its result was an error."""

    name: str
    arguments: dict[str, Any]
    write: bool
    error: bool = False

    def line(self) -> str:
        """``name(key=value, ...)``, values as JSON (strings unquoted when they read plainly)."""
        return f"{self.name}({', '.join(f'{k}={_value(v)}' for k, v in self.arguments.items())})"


def calls(messages: Sequence[Mapping[str, Any]], write_tools: frozenset[str] | set[str]) -> list[Call]:
    """Every tool call the agent made, in order, each marked write or read and failed or not (its result is
    the next tool message answering its id: ids repeat across turns)."""
    out: list[Call] = []
    pending: list[tuple[str | None, Call]] = []
    for m in messages:
        if m.get("role") == "assistant":
            pending = []
            for c in m.get("tool_calls") or []:
                call = Call(name=c["name"], arguments=c.get("arguments") or {}, write=c["name"] in write_tools)
                out.append(call)
                pending.append((c.get("id"), call))
        elif m.get("role") == "tool":
            match = next((i for i, (cid, _) in enumerate(pending) if cid == m.get("id")), None)
            if match is not None:
                pending.pop(match)[1].error = bool(m.get("error"))
    return out


def transcript_lines(
    messages: Sequence[Mapping[str, Any]], write_tools: frozenset[str] | set[str], width: int = 100
) -> list[str]:
    """The conversation, one paragraph per text message (wrapped to ``width``), one line per tool call and
    per tool result (cut to ``width``); writes are marked ``WRITE``, failed results ``ERROR``."""
    return list(_lines(messages, write_tools, width))


def transcript_markdown(
    messages: Sequence[Mapping[str, Any]], write_tools: frozenset[str] | set[str], width: int = 100
) -> str:
    """:func:`transcript_lines` as a Markdown code block (safe for placeholders such as ``<id>``)."""
    body = "\n".join(transcript_lines(messages, write_tools, width)).replace("```", "'''")
    return f"```text\n{body}\n```"


def _lines(messages: Sequence[Mapping[str, Any]], write_tools: frozenset[str] | set[str], width: int) -> Iterator[str]:
    indent = " " * ROLE_WIDTH
    for m in messages:
        role = m.get("role")
        if role == "tool":
            mark = "ERROR " if m.get("error") else ""
            yield _cut(f"{'tool':<{ROLE_WIDTH}}<- {mark}{_fold(m.get('content'))}", width)
            continue
        who = "agent" if role == "assistant" else str(role)
        reasoning = ((m.get("raw_data") or {}).get("reasoning_content") or "").strip()
        if reasoning:
            yield _cut(f"{who:<{ROLE_WIDTH}}(thinks) {_fold(reasoning)}", width)
        text = (m.get("content") or "").strip()
        if text:
            yield textwrap.fill(
                " ".join(text.split()), width=width, initial_indent=f"{who:<{ROLE_WIDTH}}", subsequent_indent=indent
            )
        for call in m.get("tool_calls") or []:
            c = Call(name=call["name"], arguments=call.get("arguments") or {}, write=call["name"] in write_tools)
            yield _cut(f"{who:<{ROLE_WIDTH}}-> {'WRITE ' if c.write else ''}{c.line()}", width)


def _value(value: Any) -> str:
    if isinstance(value, str) and value and all(ch.isalnum() or ch in "_-.:@ " for ch in value):
        return value
    return json.dumps(value, ensure_ascii=False)


def _fold(content: Any) -> str:
    return " ".join(str(content or "").split())


def _cut(line: str, width: int) -> str:
    return line if len(line) <= width else line[: width - 3] + "..."
