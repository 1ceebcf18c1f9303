"""Lab 02's exercises, solved: the loss mask off, a template of one's own, padding against the batch size."""

from __future__ import annotations

from helpers import data, models, prompts, tokenizing

MY_TEMPLATE = "Two people talked:\n{dialogue}\n\nIn one or two sentences, what did they talk about and decide?"


def solve_02_1(preset: str = "smoke") -> dict:
    """Positions in the loss with the prompt masked, and with every position kept."""
    tokenizer = models.embedded_tokenizer()
    row = data.load_dialogsum("pocket", "train", limit=1)[0]
    prompt = prompts.chat(tokenizer, prompts.summary_prompt(row["dialogue"]))
    ex = tokenizing.build(tokenizer, prompt, row["summary"], "causal", 1024, 256)
    unmasked = list(ex["input_ids"])  # mask off: every position is a label
    masked = sum(label != tokenizing.IGNORE for label in ex["labels"])
    print(f"{masked} of {len(unmasked)} positions in the loss; mask off: all {len(unmasked)}")
    return {"masked": masked, "unmasked": len(unmasked)}


def solve_02_2(preset: str = "smoke") -> dict:
    """The first train row's pair with a template written here."""
    row = data.load_dialogsum("pocket", "train", limit=1)[0]
    return {"prompt": prompts.render(MY_TEMPLATE, row), "completion": row["summary"].strip()}


def solve_02_3(preset: str = "smoke") -> dict:
    """Share of tokens dynamic padding saves over fixed padding, at batch sizes 4 and 16."""
    tokenizer = models.embedded_tokenizer()
    rows = data.load_dialogsum("pocket", "train", limit=64)
    lengths = tokenizing.row_lengths(tokenizing.summary_dataset(tokenizer, "causal", rows, 1024, 128), "causal")
    return {size: tokenizing.padding_cost(lengths, size)["saved"] for size in (4, 16)}
