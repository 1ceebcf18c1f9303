"""ROUGE through `evaluate` with the project's own metric module, plus seeded bootstrap intervals."""

from __future__ import annotations

import functools
from pathlib import Path

import evaluate
import numpy as np

METRIC_PATH = Path(__file__).resolve().parent / "rouge_metric" / "rouge_metric.py"
KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum")


@functools.lru_cache(maxsize=1)
def rouge_module():
    """The project's ROUGE metric, loaded by path (``evaluate.load('rouge')`` would need the Hub)."""
    return evaluate.load(str(METRIC_PATH))


def per_example(predictions: list[str], references: list) -> dict[str, list[float]]:
    """ROUGE F-measures of every example; ``references`` holds a string or a list of strings per example."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not predictions:
        raise ValueError("no predictions to score")
    refs = [[r] if isinstance(r, str) else list(r) for r in references]
    return rouge_module().compute(predictions=list(predictions), references=refs, use_aggregator=False)


def bootstrap(values, n: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean; seeded, so it repeats exactly."""
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(n, len(values)))].mean(axis=1)
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def rouge(predictions: list[str], references: list, n_boot: int = 1000, seed: int = 0) -> dict:
    """{'rouge1': {'mean', 'low', 'high'}, ..., 'per_example': {...}}: means with 95% bootstrap intervals."""
    scores = per_example(predictions, references)
    out = {}
    for k in KEYS:
        low, high = bootstrap(scores[k], n_boot, seed)
        out[k] = {"mean": float(np.mean(scores[k])), "low": low, "high": high}
    out["per_example"] = scores
    return out


def table(results: dict[str, dict]) -> str:
    """Markdown table of several models' ROUGE with intervals: {'original': rouge(...), ...}."""
    rows = ["| model | " + " | ".join(KEYS) + " |", "|---|" + "---|" * len(KEYS)]
    for name, r in results.items():
        cells = [f"{r[k]['mean']:.4f} [{r[k]['low']:.4f}, {r[k]['high']:.4f}]" for k in KEYS]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


# The course's published full-test-set figures (FLAN-T5-base on DialogSum), shown beside ours, labelled as theirs.
COURSE_RESULTS = {
    "original": {"rouge1": 0.2334, "rouge2": 0.0760, "rougeL": 0.2015},
    "full fine-tuning": {"rouge1": 0.4216, "rouge2": 0.1804, "rougeL": 0.3384},
    "PEFT (LoRA)": {"rouge1": 0.4081, "rouge2": 0.1633, "rougeL": 0.3251},
}


def paired_difference(before, after, n: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """Mean of ``after - before`` per example with a paired bootstrap interval (the same examples resampled)."""
    before, after = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if before.shape != after.shape or before.size == 0:
        raise ValueError(f"need two equally long, non-empty score lists; got {before.size} and {after.size}")
    diff = after - before
    low, high = bootstrap(diff, n, seed, level)
    return {"mean": float(diff.mean()), "low": low, "high": high,
            "improved": float((diff > 0).mean()), "worse": float((diff < 0).mean()), "same": float((diff == 0).mean())}


def verdict(low: float, high: float, b: str = "b", a: str = "a") -> str:
    """The conclusion a paired interval of ``b - a`` allows: a direction only when the interval excludes zero."""
    if low > high:
        raise ValueError(f"the interval's low end {low} is above its high end {high}")
    if low <= 0 <= high:
        return "no difference measurable at this size"
    return f"{b} higher than {a}" if low > 0 else f"{b} lower than {a}"


def improvement_table(before: dict, after: dict, keys=KEYS, n: int = 1000, seed: int = 0) -> str:
    """Markdown table of the absolute improvement (points of ROUGE x 100) of ``after`` over ``before``, as the
    course prints it, with a paired 95% bootstrap interval and the share of examples that improved."""
    rows = ["| metric | before | after | absolute improvement | 95% interval | examples improved |",
            "|---|---|---|---|---|---|"]
    for k in keys:
        d = paired_difference(before["per_example"][k], after["per_example"][k], n, seed)
        rows.append(f"| {k} | {before[k]['mean']:.4f} | {after[k]['mean']:.4f} | {100 * d['mean']:+.2f}% | "
                    f"[{100 * d['low']:+.2f}%, {100 * d['high']:+.2f}%] | {d['improved']:.0%} |")
    return "\n".join(rows)


def course_table(ours: dict[str, dict], keys=("rouge1", "rouge2", "rougeL")) -> str:
    """Our means beside the course's published figures (theirs: FLAN-T5-base, full DialogSum test set)."""
    rows = ["| model | source | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for name, r in ours.items():
        rows.append(f"| {name} | ours | " + " | ".join(f"{r[k]['mean']:.4f}" for k in keys) + " |")
    for name, r in COURSE_RESULTS.items():
        rows.append(f"| {name} | theirs (course, FLAN-T5-base, full DialogSum test) | "
                    + " | ".join(f"{r[k]:.4f}" for k in keys) + " |")
    return "\n".join(rows)
