"""A byte-level BPE tokenizer for the tiny local model, trained here in about a second.

Besides the usual merges it has one token per paragraph (per line, for the tool list) of the
fixed part of the agent's prompt (each domain's system prompt and tools, as the chat template
renders them). The policy and tool schemas then cost ~100 tokens instead of ~5,000, which is what
lets a 2-layer model be trained on whole prompts on a CPU in seconds; any text that is not
one of those lines is tokenized by plain byte-level BPE, so nothing depends on them.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, cast

from writ_dagster.core.llm.chat_format import CHAT_TEMPLATE, END_OF_TEXT, IM_END, IM_START, SPECIAL_TOKENS, TOOL_TOKENS

MIN_PHRASE_CHARS = 8  # shorter pieces are left to BPE: they gain little and may occur in conversation
MAX_PHRASE_CHARS = 1500  # a longer paragraph (the tool list) gets a token per line instead
_CHATML = re.compile(re.escape(IM_START) + r"\w+\n|" + re.escape(IM_END) + r"\n?")


def phrase_lines(fixed_prompts: Iterable[str]) -> list[str]:
    """The distinct pieces of the fixed prompts worth a token of their own, in first-seen order:
    each paragraph (up to its blank line) if short, else each of its lines (the tool list)."""
    seen: dict[str, None] = {}
    for prompt in fixed_prompts:
        for part in re.split(_CHATML, prompt):  # ChatML markers stay special tokens
            for para in re.split(r"(?<=\n\n)", part):
                pieces = [para] if len(para) <= MAX_PHRASE_CHARS else para.splitlines(keepends=True)
                seen.update((p, None) for p in pieces if len(p.strip()) >= MIN_PHRASE_CHARS)
    return list(seen)


def train_tokenizer(corpus: Iterable[str], fixed: list[tuple[str, list[dict[str, Any]]]], vocab_size: int = 2048):
    """A ``PreTrainedTokenizerFast`` with ChatML special tokens, the hermes tool tags, the chat
    template, and a token for each paragraph or line of the ``fixed`` (system prompt, tools) pairs as rendered."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(list(corpus), trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token=IM_END,
        pad_token=END_OF_TEXT,
        additional_special_tokens=[IM_START],
        model_max_length=1 << 15,
        clean_up_tokenization_spaces=False,
    )
    tok.chat_template = CHAT_TEMPLATE
    # cast: with tokenize=False the template renders to text
    rendered = [
        cast(
            str,
            tok.apply_chat_template(
                [{"role": "system", "content": system}],
                tools=tools,  # type: ignore[arg-type]  # list is invariant
                tokenize=False,
            ),
        )
        for system, tools in fixed
    ]
    # normalized=False: match the raw text; special=False: decoding must keep them (the
    # hermes parser reads <tool_call> in the output, and phrases are ordinary text).
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in (*TOOL_TOKENS, *phrase_lines(rendered))])
    return tok
