"""Prompt templates and builders: zero/few-shot prompts, instruction templates, the chat template, token budgets."""

from __future__ import annotations

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


def for_model(tokenizer, prompt: str, kind: str, use_chat: bool = True) -> str:
    """What the model actually reads: chat-wrapped for decoder-only chat models, plain for seq2seq."""
    return chat(tokenizer, prompt) if kind == "causal" and use_chat else prompt


@dataclass
class Budget:
    prompt_tokens: int
    limit: int
    max_new_tokens: int

    @property
    def fits(self) -> bool:
        return self.prompt_tokens + self.max_new_tokens <= self.limit

    @property
    def share(self) -> float:
        """Share of the context window the prompt alone uses."""
        return self.prompt_tokens / self.limit


def budget(tokenizer, text: str, limit: int, max_new_tokens: int = 0) -> Budget:
    """How many tokens a prompt uses, and whether it still leaves room for the answer within ``limit``."""
    if limit <= 0:
        raise ValueError(f"limit must be positive, got {limit}")
    return Budget(len(tokenizer(text, add_special_tokens=False)["input_ids"]), limit, max_new_tokens)
