"""Lab 05's exercises, solved: probes with and without the chat template, McNemar by hand, a hedging reply."""

from __future__ import annotations

import functools
import math

from helpers import config, data, generate, models, probes


@functools.lru_cache(maxsize=None)
def _chat_and_plain(preset: str) -> tuple[list[bool], list[bool]]:
    """Right/wrong per probe for the original model, reading each probe in the chat template and as plain text."""
    cfg = config.get(preset)
    knobs = config.knobs("05", cfg)
    model, tokenizer = models.load(cfg)
    probe_set = probes.sample(data.load_probes(), knobs["probe_examples"])
    chat = probes.evaluate(model, tokenizer, probe_set, max_new_tokens=knobs["probe_tokens"], progress=False)
    replies = generate.batch(model, tokenizer, [p["instruction"] for p in probe_set],
                             max_new_tokens=knobs["probe_tokens"], progress=False)
    plain = probes.score(replies, probe_set)
    print(f"{len(probe_set)} probes: chat {chat.accuracy:.0%}, plain {plain.accuracy:.0%}")
    return chat.correct, plain.correct


def solve_05_1(preset: str = "smoke") -> dict:
    """Probes lost and gained when the chat template is left out."""
    chat, plain = _chat_and_plain(preset)
    return {"chat": chat, "plain": plain, "lost": sum(c and not p for c, p in zip(chat, plain)),
            "gained": sum(p and not c for c, p in zip(chat, plain))}


def solve_05_2(preset: str = "smoke") -> dict:
    """McNemar's exact two-sided p-value for 05.1's counts, from the binomial distribution."""
    counts = solve_05_1(preset)
    lost, gained = counts["lost"], counts["gained"]
    m = lost + gained
    tail = sum(math.comb(m, i) for i in range(min(lost, gained) + 1)) / 2 ** m if m else 0.5
    return {"lost": lost, "gained": gained, "p": min(1.0, 2 * tail)}


def solve_05_3(preset: str = "smoke") -> str:
    """A reply naming the right answer beside a wrong one: a whole-word match passes it, the judge does not."""
    return "12 or 13"
