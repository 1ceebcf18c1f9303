"""Score the forgetting probes: short general-skill questions with answers a program can check.

A reply is lower-cased, its punctuation removed and only its first line kept; it is correct when one of the
accepted answers occurs in it as whole word(s) and none of the probe's ``wrong`` strings does.
"""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass, field

from . import prompts
from .models import kind_of


def normalize(text: str) -> str:
    """First line only, lower-cased, punctuation dropped, whitespace collapsed."""
    if not isinstance(text, str):
        raise TypeError(f"a reply must be a string, got {type(text).__name__}")
    lines = text.strip().splitlines()
    first = lines[0] if lines else ""
    # hyphens and slashes separate words ("twenty-one" -> "twenty one"); other punctuation just goes ("12." -> "12")
    kept = "".join((" " if c in "-/" else "") if unicodedata.category(c).startswith("P") else c for c in first.lower())
    return " ".join(kept.split())


def _has(text: str, phrase: str) -> bool:
    """Whether ``phrase`` (normalized) occurs in normalized ``text`` as whole word(s)."""
    phrase = normalize(phrase)
    return bool(phrase) and re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text) is not None


def is_correct(reply: str, answers: list[str], wrong: list[str] | None = None) -> bool:
    """The probe rule: some accepted answer as whole word(s) in the reply's first line, and no wrong string."""
    if not answers:
        raise ValueError("a probe needs at least one accepted answer")
    text = normalize(reply)
    return any(_has(text, a) for a in answers) and not any(_has(text, w) for w in (wrong or []))


def prompt_texts(tokenizer, probes, kind: str = "causal") -> list[str]:
    """What the model reads for each probe: its instruction in the chat template (plain for seq2seq)."""
    return [prompts.for_model(tokenizer, p["instruction"], kind) for p in probes]


@dataclass
class ProbeResult:
    """Replies and verdicts of one model on the probes, with accuracy overall and per category."""

    ids: list[str]
    categories: list[str]
    replies: list[str]
    correct: list[bool]
    seconds: float = 0.0
    per_category: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        if not self.per_category:
            self.per_category = per_category(self.categories, self.correct)

    @property
    def accuracy(self) -> float:
        """Share of all probes answered correctly (micro average)."""
        return sum(self.correct) / len(self.correct) if self.correct else 0.0

    @property
    def macro(self) -> float:
        """Mean of the per-category accuracies (each category counts the same)."""
        return sum(self.per_category.values()) / len(self.per_category) if self.per_category else 0.0


def per_category(categories: list[str], correct: list[bool]) -> dict[str, float]:
    """Accuracy per category, categories in order of first appearance."""
    if len(categories) != len(correct):
        raise ValueError(f"{len(categories)} categories but {len(correct)} verdicts")
    tally: dict[str, list[int]] = {}
    for c, ok in zip(categories, correct):
        tally.setdefault(c, [0, 0])
        tally[c][0] += int(bool(ok))
        tally[c][1] += 1
    return {c: right / n for c, (right, n) in tally.items()}


def score(replies: list[str], probes) -> ProbeResult:
    """Verdicts for replies already generated, one per probe in the same order."""
    probes = list(probes)
    if len(replies) != len(probes):
        raise ValueError(f"{len(replies)} replies for {len(probes)} probes")
    return ProbeResult(ids=[p["id"] for p in probes], categories=[p["category"] for p in probes],
                       replies=list(replies),
                       correct=[is_correct(r, p["answers"], p.get("wrong")) for r, p in zip(replies, probes)])


def evaluate(model, tokenizer, probes, max_new_tokens: int = 16, batch_size: int = 32,
             progress: bool = True) -> ProbeResult:
    """Greedy replies of ``model`` to every probe (chat template), scored."""
    from . import generate

    probes = list(probes)
    if not probes:
        raise ValueError("no probes to evaluate")
    t0 = time.perf_counter()
    replies = generate.batch(model, tokenizer, prompt_texts(tokenizer, probes, kind_of(model)),
                             max_new_tokens=max_new_tokens, batch_size=batch_size, progress=progress)
    result = score(replies, probes)
    result.seconds = time.perf_counter() - t0
    return result


def sample(probes, limit: int = 0):
    """A balanced subset: the first ``limit`` probes taken round-robin over categories (0 = all)."""
    probes = list(probes)
    if limit < 0:
        raise ValueError(f"limit must be >= 0 (0 = all), got {limit}")
    if not limit or limit >= len(probes):
        return probes
    by_cat: dict[str, list] = {}
    for p in probes:
        by_cat.setdefault(p["category"], []).append(p)
    out, i = [], 0
    while len(out) < limit:
        for rows in by_cat.values():
            if i < len(rows) and len(out) < limit:
                out.append(rows[i])
        i += 1
    return out


def table(results: dict[str, ProbeResult]) -> str:
    """Markdown table: one row per category, one column per model, accuracies in percent."""
    names = list(results)
    cats = list(dict.fromkeys(c for r in results.values() for c in r.per_category))
    rows = ["| category | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for c in cats:
        rows.append(f"| {c} | " + " | ".join(f"{100 * results[n].per_category.get(c, float('nan')):.0f}%" for n in names) + " |")
    rows.append("| **all** | " + " | ".join(f"**{100 * results[n].accuracy:.1f}%**" for n in names) + " |")
    return "\n".join(rows)
