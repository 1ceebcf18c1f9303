"""Prompt templates and builders: zero/few-shot prompts, instruction templates, the chat template, token budgets."""

from __future__ import annotations

import random
from dataclasses import dataclass

# The default instruction used for fine-tuning and evaluation (template 0 of SUMMARY_TEMPLATES).
SUMMARY_TEMPLATES: list[str] = [
    "Summarize the following conversation.\n\n{dialogue}\n\nSummary:",
    "Dialogue:\n{dialogue}\n\nWhat was going on in this conversation? Write a short summary.",
    "{dialogue}\n\nBriefly summarize that dialogue.",
    "Here is a dialogue:\n{dialogue}\n\nWrite a short summary of it.",
    "Write a two-sentence summary of this conversation:\n\n{dialogue}",
    "Read the dialogue and state its main points in one or two sentences.\n\n{dialogue}",
    "{dialogue}\n\nWhat were the main points in that conversation?",
    "Conversation between two people:\n{dialogue}\n\nSummarize it for someone who was not there.",
    "Give a brief, neutral summary of the exchange below.\n\n{dialogue}\n\nSummary:",
]
TOPIC_TEMPLATES: list[str] = [
    "What is the topic of this conversation? Answer in a few words.\n\n{dialogue}",
    "{dialogue}\n\nName the topic of that dialogue in one to four words.",
    "Dialogue:\n{dialogue}\n\nWhat are these people talking about? Give a short topic.",
]
DIALOGUE_TEMPLATES: list[str] = [
    "Write a short dialogue between #Person1# and #Person2# that matches this summary:\n{summary}",
    "Here is a summary of a conversation: {summary}\n\nWrite the conversation, one turn a line, tagged #Person1#: and #Person2#:.",
    "Compose a realistic conversation that this summary describes.\n\nSummary: {summary}",
]
# target field of a row for each task
TASKS = {"summarize": (SUMMARY_TEMPLATES, "summary"), "topic": (TOPIC_TEMPLATES, "topic"),
         "write_dialogue": (DIALOGUE_TEMPLATES, "dialogue")}


def render(template: str, row: dict) -> str:
    """Fill a template's {fields} from a dataset row; a missing field names itself."""
    try:
        return template.format(**row)
    except KeyError as e:
        raise KeyError(f"template needs field {e} but the row has only {sorted(row)}") from None


def summary_prompt(dialogue: str, template: str = SUMMARY_TEMPLATES[0]) -> str:
    """The summarization instruction for one dialogue (template 0 unless another is given)."""
    return render(template, {"dialogue": dialogue})


def few_shot(examples: list[dict], row: dict, template: str = SUMMARY_TEMPLATES[0]) -> str:
    """k solved examples (prompt + summary), then the new dialogue's prompt: k = 0 is zero-shot."""
    shots = [render(template, ex) + " " + ex["summary"] for ex in examples]
    return "\n\n\n".join(shots + [render(template, row)])


def chat(tokenizer, prompt: str) -> str:
    """The prompt wrapped in the model's chat template, ready for the assistant's answer (if it has one)."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
    return prompt


def for_model(tokenizer, prompt: str, kind: str) -> str:
    """What the model actually reads: chat-wrapped for decoder-only chat models, plain for seq2seq."""
    return chat(tokenizer, prompt) if kind == "causal" else prompt


KINDS = ("causal", "seq2seq")


@dataclass
class Budget:
    """A prompt's token count against the context window, with room kept for the answer where the answer shares it.

    Decoder-only: prompt and answer are one sequence, so the prompt must leave ``max_new_tokens`` free. Seq2seq: only
    the prompt counts against the encoder's window; the answer is the decoder's, with a budget of its own.
    """

    prompt_tokens: int
    limit: int
    max_new_tokens: int
    kind: str = "causal"

    @property
    def used(self) -> int:
        """Tokens counted against ``limit``."""
        return self.prompt_tokens + (self.max_new_tokens if self.kind == "causal" else 0)

    @property
    def fits(self) -> bool:
        return self.used <= self.limit

    @property
    def share(self) -> float:
        """Share of the context window the prompt alone uses."""
        return self.prompt_tokens / self.limit


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def budget(tokenizer, text: str, limit: int, max_new_tokens: int = 0, kind: str = "causal") -> Budget:
    """How many tokens a prompt uses (as the model reads it: a seq2seq encoder's input ends with eos), and whether
    it fits ``limit`` (leaving ``max_new_tokens`` free for a decoder-only model's answer)."""
    if limit <= 0:
        raise ValueError(f"limit must be positive, got {limit}")
    _check_kind(kind)
    return Budget(count_tokens(tokenizer, [text], kind)[0], limit, max_new_tokens, kind)


def overflow(counts, limit: int, max_new_tokens: int = 0, kind: str = "causal") -> float:
    """Share of prompts (token counts from :func:`count_tokens`) that do not fit ``limit`` by :class:`Budget`'s rule."""
    counts = list(counts)
    if not counts:
        raise ValueError("overflow needs at least one token count")
    _check_kind(kind)
    return sum(not Budget(int(n), limit, max_new_tokens, kind).fits for n in counts) / len(counts)


# ---- few-shot prompts in both formats (lab 01) ------------------------------------------------------------------

FORMATS = ("chat", "plain")


def shot_messages(examples: list[dict], row: dict, template: str = SUMMARY_TEMPLATES[0]) -> list[dict]:
    """Few-shot as a chat: each solved example is a user turn and the assistant's answer, then the new dialogue."""
    messages = []
    for ex in examples:
        messages += [{"role": "user", "content": render(template, ex)}, {"role": "assistant", "content": ex["summary"]}]
    return messages + [{"role": "user", "content": render(template, row)}]


def icl_prompt(tokenizer, examples: list[dict], row: dict, fmt: str = "chat", kind: str = "causal",
               template: str = SUMMARY_TEMPLATES[0]) -> str:
    """What the model reads for a k-shot prompt (k = len(examples)).

    ``fmt="chat"``: the shots as earlier chat turns in the model's chat template (decoder-only chat models);
    ``fmt="plain"``: the shots and the question as one plain text that the model continues (any model, FLAN-style).
    """
    if fmt not in FORMATS:
        raise ValueError(f"prompt format must be one of {FORMATS}, got {fmt!r}")
    if fmt == "chat" and kind == "causal" and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(shot_messages(examples, row, template), tokenize=False,
                                             add_generation_prompt=True)
    return few_shot(examples, row, template)


def draw_shots(pool, n_rows: int, k: int, seed: int = 0, max_tokens: int | None = None, tokenizer=None,
               field: str = "dialogue") -> list[list[dict]]:
    """For each of ``n_rows`` evaluation rows, k distinct solved examples drawn (seeded) from ``pool``.

    The draws are nested: the first j shots of a row are the same for every k >= j, so k is the only thing that
    changes along a sweep. ``max_tokens`` keeps only pool rows whose ``field`` has at most that many tokens.
    """
    rows = list(pool)
    if max_tokens is not None:
        if tokenizer is None:
            raise ValueError("draw_shots: max_tokens needs the tokenizer to count tokens")
        lengths = count_tokens(tokenizer, [r[field] for r in rows])
        rows = [r for r, n in zip(rows, lengths) if n <= max_tokens]
    if k > len(rows):
        raise ValueError(f"asked for {k} shots but the pool holds only {len(rows)} usable rows"
                         + (f" (max_tokens={max_tokens}); raise max_tokens or lower k" if max_tokens else ""))
    out = []
    for i in range(n_rows):  # one seeded shuffle per row, cut at k: nested across k, independent of n_rows
        order = list(range(len(rows)))
        random.Random(seed * 1_000_003 + i).shuffle(order)
        out.append([rows[j] for j in order[:k]])
    return out


def count_tokens(tokenizer, texts: list[str], kind: str = "causal") -> list[int]:
    """Tokens in each text as the model reads it: decoder-only, no special tokens added (chat-wrapped prompts
    already hold theirs); seq2seq, the encoder's input with its closing eos (``tokenizing.encoder_ids``)."""
    if not texts:
        return []
    _check_kind(kind)
    if kind == "causal":
        return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]
    eos = tokenizer.eos_token_id
    return [len(ids) + (not ids or ids[-1] != eos) for ids in tokenizer(list(texts))["input_ids"]]


def max_shots(tokenizer, examples: list[dict], row: dict, limit: int, max_new_tokens: int = 0, fmt: str = "chat",
              kind: str = "causal", template: str = SUMMARY_TEMPLATES[0]) -> int:
    """The largest k <= len(examples) whose k-shot prompt fits ``limit`` (:class:`Budget`: a decoder-only prompt
    must leave ``max_new_tokens`` free, a seq2seq prompt only has to fit the encoder); -1 if even zero-shot does not."""
    best = -1
    for k in range(len(examples) + 1):
        n = count_tokens(tokenizer, [icl_prompt(tokenizer, examples[:k], row, fmt, kind, template)], kind)[0]
        if not Budget(n, limit, max_new_tokens, kind).fits:
            break
        best = k
    return best


# ---- instruction pairs from dataset rows (lab 02) ----------------------------------------------------------------

def pair(row: dict, task: str = "summarize", template_index: int = 0) -> dict:
    """One prompt-completion pair: the task's template ``template_index`` filled from ``row``."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    templates, target = TASKS[task]
    if not 0 <= template_index < len(templates):
        raise ValueError(f"task {task!r} has templates 0..{len(templates) - 1}, got {template_index}")
    return {"id": row.get("id", ""), "task": task, "template": template_index,
            "prompt": render(templates[template_index], row), "completion": row[target].strip()}


def pairs(rows, task: str = "summarize", templates: str | int = "mix", seed: int = 0) -> list[dict]:
    """Prompt-completion pairs for ``rows``: one fixed template (an index) or, FLAN-style, a template drawn per row
    (``"mix"``, seeded)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    n_templates = len(TASKS[task][0])
    rng = random.Random(seed)
    out = []
    for row in rows:
        if templates == "mix":
            index = rng.randrange(n_templates)
        elif isinstance(templates, int):
            index = templates
        else:
            raise ValueError(f"templates must be 'mix' or a template index, got {templates!r}")
        out.append(pair(row, task, index))
    return out
