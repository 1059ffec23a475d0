"""The chat format of WRIT's local models: a hermes-style template and its tool-call parser.

Turns are ChatML (``<|im_start|>role ... <|im_end|>``); the system turn lists each tool as
one JSON line; the assistant calls tools as ``<tool_call>{"name": ..., "arguments": {...}}
</tool_call>``, which vLLM's ``hermes`` tool parser returns as OpenAI ``tool_calls``.

Two properties the template keeps on purpose:
- tool-call ``arguments`` may arrive as a JSON string (training data: the ``datasets``
  library would merge dict-typed arguments across rows) or as a dict (vLLM parses them
  before templating); both render to the same text;
- tools may arrive as dicts (OpenAI ``{"type": "function", "function": {...}}``) or as
  pre-rendered JSON lines (training data, for the same ``datasets`` reason); both render
  ``{"name", "description", "parameters"}`` in that order.
Tool results come back in a user turn inside ``<tool_response>`` tags, as in Qwen3's own
template: the tag right before the assistant's turn tells a small model that a result,
not the customer, just spoke. The assistant turn, its ``<|im_end|>`` included, sits in ``{% generation %}`` so TRL can
train on assistant tokens only and the model learns to stop.
"""

from __future__ import annotations

import json
import re
from typing import Any

from writ_dagster.core.simulation.protocol import RawToolCall

IM_START, IM_END, END_OF_TEXT = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
TOOL_CALL_START, TOOL_CALL_END = "<tool_call>", "</tool_call>"
TOOL_RESPONSE_START, TOOL_RESPONSE_END = "<tool_response>", "</tool_response>"
THINK_START, THINK_END = "<think>", "</think>"
SPECIAL_TOKENS = (END_OF_TEXT, IM_START, IM_END)
# plain (non-special) tokens: decoding must keep them, the hermes parser reads the tags
TOOL_TOKENS = (TOOL_CALL_START, TOOL_CALL_END, TOOL_RESPONSE_START, TOOL_RESPONSE_END)

TOOLS_HEADER = "\n\n# Tools\nYou may call the functions below; each line is the JSON schema of one function.\n<tools>"
TOOLS_FOOTER = (
    "\n</tools>\nTo call a function, reply with only "
    '<tool_call>{"name": <function-name>, "arguments": <JSON object>}</tool_call>'
)


def _lit(text: str) -> str:
    """A Jinja string literal (Jinja reads Python-style escapes, which JSON's are a subset of)."""
    return json.dumps(text)


# Whitespace is controlled explicitly with "-" markers; transformers compiles templates with
# trim_blocks/lstrip_blocks, which the markers make irrelevant.
CHAT_TEMPLATE = (
    "{%- macro tool_line(t) -%}"
    "{%- if t is string -%}{{ t }}"
    "{%- else -%}{%- set f = t.function if t.function is defined else t -%}"
    "{{ {'name': f.name, 'description': f.description, 'parameters': f.parameters} | tojson }}"
    "{%- endif -%}"
    "{%- endmacro -%}"
    "{%- if messages and messages[0].role == 'system' -%}"
    "{%- set system = messages[0].content -%}{%- set rest = messages[1:] -%}"
    "{%- else -%}{%- set system = '' -%}{%- set rest = messages -%}{%- endif -%}"
    "{{ '<|im_start|>system\\n' + (system or '') }}"
    "{%- if tools -%}"
    "{{ " + _lit(TOOLS_HEADER) + " }}"
    "{%- for t in tools -%}{{ '\\n' }}{{ tool_line(t) }}{%- endfor -%}"
    "{{ " + _lit(TOOLS_FOOTER) + " }}"
    "{%- endif -%}"
    "{{ '<|im_end|>\\n' }}"
    "{%- for m in rest -%}"
    "{%- if m.role == 'assistant' -%}"
    "{{ '<|im_start|>assistant\\n' }}"
    "{%- generation -%}"
    "{%- if m.content -%}{{ m.content }}{%- endif -%}"
    "{%- for tc in (m.tool_calls or []) -%}"
    "{%- set fn = tc.function if tc.function is defined else tc -%}"
    "{%- if m.content or not loop.first -%}{{ '\\n' }}{%- endif -%}"
    "{{ '<tool_call>{\"name\": ' + (fn.name | tojson) + ', \"arguments\": ' }}"
    "{%- if fn.arguments is string -%}{{ fn.arguments }}{%- else -%}{{ fn.arguments | tojson }}{%- endif -%}"
    "{{ '}</tool_call>' }}"
    "{%- endfor -%}"
    "{{ '<|im_end|>' }}"
    "{%- endgeneration -%}"
    "{{ '\\n' }}"
    "{%- elif m.role == 'tool' -%}"
    "{{ '<|im_start|>user\\n<tool_response>\\n' + (m.content or '') + '\\n</tool_response><|im_end|>\\n' }}"
    "{%- else -%}"
    "{{ '<|im_start|>' + m.role + '\\n' + (m.content or '') + '<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)


def tool_line(tool: dict[str, Any]) -> str:
    """A tool's line in the system turn, exactly as the template renders a dict tool."""
    f = tool.get("function", tool)
    return json.dumps(
        {"name": f.get("name"), "description": f.get("description"), "parameters": f.get("parameters")},
        ensure_ascii=False,
    )


_BLOCK = re.compile(re.escape(TOOL_CALL_START) + r"(.*?)(?:" + re.escape(TOOL_CALL_END) + r"|$)", re.S)
_NAME = re.compile(r'"name"\s*:\s*"([^"]*)"')
_ARGS = re.compile(r'"arguments"\s*:\s*(.*)$', re.S)


def parse_tool_calls(text: str) -> tuple[str | None, list[RawToolCall]]:
    """Split generated text into its content and hermes tool calls (offline generation).

    Lenient where vLLM's server parser gives up on the whole turn: a block that is not
    valid JSON still becomes a call (name recovered if possible, arguments kept as the raw
    text), so the engine records it as malformed and answers it with a tau2 tool error.
    """
    start = text.find(TOOL_CALL_START)
    if start < 0:
        return (text if text.strip() else None), []
    content = text[:start].strip() or None
    calls = []
    for body in _BLOCK.findall(text[start:]):
        calls.append(_one_call(body.strip()))
    return content, calls


def _one_call(body: str) -> RawToolCall:
    try:
        obj = json.loads(body)
    except json.JSONDecodeError:
        obj = None
    if isinstance(obj, dict) and isinstance(obj.get("name"), str):
        args = obj.get("arguments", {})
        # keep strings as the model wrote them; the engine parses and validates them
        return RawToolCall(name=obj["name"], arguments=args if isinstance(args, str) else json.dumps(args))
    name = _NAME.search(body)
    found = _ARGS.search(body)
    args = found.group(1).strip() if found else body
    if args.endswith("}") and args.count("}") > args.count("{"):
        args = args[:-1].rstrip()  # the brace closing the outer object
    return RawToolCall(name=name.group(1) if name else "", arguments=args)


def split_reasoning(text: str | None) -> tuple[str | None, str | None]:
    """Split generated text into what the model said and its reasoning (Qwen3-style think blocks).

    Handles ``<think>…</think>`` anywhere in the text, a block left open by the length limit
    (all of the rest is reasoning), and a ``</think>`` with no opening tag, which is what a
    chat template that already put ``<think>`` into the generation prompt leaves behind.
    Returns ``(content or None, reasoning or None)``; text without the tags comes back as is.
    """
    if not text or (THINK_START not in text and THINK_END not in text):
        return text, None
    if text.startswith(THINK_START):  # the usual shape, one closed block in front: no walk
        end = text.find(THINK_END, len(THINK_START))
        if end > 0 and text.find(THINK_START, len(THINK_START)) < 0 and text.find(THINK_END, end + len(THINK_END)) < 0:
            said, thought = text[end + len(THINK_END) :].strip(), text[len(THINK_START) : end].strip()
            return (said or None), (thought or None)
    return _split_walk(text)


def _split_walk(text: str) -> tuple[str | None, str | None]:
    """:func:`split_reasoning` for any shape: blocks anywhere, left open, or closed without an opening."""
    parts: list[str] = []
    said: list[str] = []
    head, sep, tail = text.partition(THINK_END)
    if sep and THINK_START not in head:  # the opening tag was in the prompt, not in the output
        parts.append(head)
        text = tail
    pos = 0
    while True:  # str.find, not a regex: this runs on every assistant message of an SFT build
        start = text.find(THINK_START, pos)
        if start < 0:
            said.append(text[pos:])
            break
        said.append(text[pos:start])
        end = text.find(THINK_END, start + len(THINK_START))
        if end < 0:
            parts.append(text[start + len(THINK_START) :])
            break
        parts.append(text[start + len(THINK_START) : end])
        pos = end + len(THINK_END)
    content = "".join(said).replace(THINK_END, "").strip()
    reasoning = "\n\n".join(p.strip() for p in parts if p.strip())
    return (content or None), (reasoning or None)


def with_reasoning(content: str | None, reasoning: str | None) -> str | None:
    """Content with its reasoning put back in front as a think block (for SFT rows that ask for it)."""
    if not reasoning:
        return content
    return f"{THINK_START}\n{reasoning}\n{THINK_END}\n\n{content or ''}".rstrip()


def openai_tool_calls(calls: list[Any] | None) -> list[RawToolCall]:
    """``RawToolCall`` s from OpenAI ``tool_calls`` (SDK objects or dicts), arguments left raw."""
    out = []
    for call in calls or []:
        fn = call.get("function", {}) if isinstance(call, dict) else call.function
        name = fn.get("name") if isinstance(fn, dict) else fn.name
        args = fn.get("arguments") if isinstance(fn, dict) else fn.arguments
        call_id = call.get("id") if isinstance(call, dict) else call.id
        out.append(RawToolCall(name=name or "", arguments=args if args is not None else "", id=call_id))
    return out
