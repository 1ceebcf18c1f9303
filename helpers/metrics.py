"""ROUGE through `evaluate` with the project's own metric module, plus seeded bootstrap intervals."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

METRIC_PATH = Path(__file__).resolve().parent / "rouge_metric" / "rouge_metric.py"
KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum")


@functools.lru_cache(maxsize=1)
def rouge_module():
    """The project's ROUGE metric, loaded by path (``evaluate.load('rouge')`` would need the Hub)."""
    import evaluate

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
