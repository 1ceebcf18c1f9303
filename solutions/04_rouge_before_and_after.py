"""Lab 04's exercises, solved: ROUGE-1 by hand, the human ceiling, and how the interval narrows with n."""

from __future__ import annotations

import re
from collections import Counter

from nltk.stem.porter import PorterStemmer

from helpers import data, metrics
from helpers.exercises import PREDICTION, REFERENCE


def _words(text: str) -> list[str]:
    """As rouge_score reads a text: lower-cased, only letters and digits, words over 3 letters Porter-stemmed."""
    stem = PorterStemmer().stem
    return [stem(w) if len(w) > 3 else w for w in re.sub(r"[^a-z0-9]+", " ", text.lower()).split()]


def solve_04_1(preset: str = "smoke") -> dict:
    """Unigram precision, recall and F1 of the exercise's pair, counted by hand."""
    pred, ref = Counter(_words(PREDICTION)), Counter(_words(REFERENCE))
    shared = sum((pred & ref).values())  # each word counted at most as often as it occurs in both
    p, r = shared / sum(pred.values()), shared / sum(ref.values())
    f1 = 2 * p * r / (p + r)
    print(f"shared {shared}: P {p:.3f}, R {r:.3f}, F1 {f1:.3f}; "
          f"metrics: {metrics.per_example([PREDICTION], [REFERENCE])['rouge1'][0]:.3f}")
    return {"precision": p, "recall": r, "f1": f1}


def _human_scores() -> list[float]:
    test = data.load_dialogsum("pocket", "test")
    return metrics.per_example([refs[1] for refs in test["references"]],
                               [refs[0] for refs in test["references"]])["rouge1"]


def solve_04_2(preset: str = "smoke") -> dict:
    """ROUGE-1 of the second human summary against the first, over the test split, with its interval."""
    test = data.load_dialogsum("pocket", "test")
    r1 = metrics.rouge([refs[1] for refs in test["references"]], [refs[0] for refs in test["references"]])["rouge1"]
    return {"mean": r1["mean"], "low": r1["low"], "high": r1["high"]}


def solve_04_3(preset: str = "smoke", sizes: tuple[int, ...] = (25, 100)) -> dict:
    """Width of the 95% bootstrap interval of the mean for the first n dialogues."""
    scores = _human_scores()
    widths = {}
    for n in sizes:
        low, high = metrics.bootstrap(scores[:n])
        widths[n] = high - low
    a, b = sizes[0], sizes[-1]
    print(f"width ratio n={a} / n={b}: {widths[a] / widths[b]:.2f} (1/sqrt(n) predicts {(b / a) ** 0.5:.2f})")
    return widths
