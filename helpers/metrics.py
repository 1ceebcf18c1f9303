"""ROUGE through `evaluate` with the project's own metric module, plus seeded bootstrap intervals."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import evaluate
import numpy as np

from . import generate, prompts
from .models import kind_of

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
    return summarize(per_example(predictions, references), n_boot, seed)


def summarize(scores: dict[str, list[float]], n_boot: int = 1000, seed: int = 0) -> dict:
    """``rouge()``'s result from per-example scores already computed (e.g. reused from an earlier lab)."""
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


def compare(name: str, metric: str, a, b, a_label: str = "a", b_label: str = "b", n: int = 1000, seed: int = 0) -> dict:
    """One paired comparison as the labs record it: ``name, metric, n, a, b, diff, low, high, verdict``.

    ``a`` and ``b`` are per-example scores of the two sides on the same examples (ROUGE, or 1/0 for a probe answered
    right or wrong); ``diff = b - a`` with its paired 95% bootstrap interval, and the verdict it allows.
    """
    d = paired_difference(a, b, n, seed)
    a_, b_ = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return {"name": name, "metric": metric, "n": int(a_.size), "a": float(a_.mean()), "b": float(b_.mean()),
            "diff": d["mean"], "low": d["low"], "high": d["high"], "verdict": verdict(d["low"], d["high"], b_label, a_label),
            "a_label": a_label, "b_label": b_label}


def mcnemar(a_correct, b_correct) -> dict:
    """McNemar's exact test on paired right/wrong answers: the discordant pairs and a two-sided p-value.

    Only the examples the two sides disagree on count: ``lost`` (a right, b wrong) and ``gained`` (a wrong, b right).
    Under "no difference" each discordant pair is a fair coin, so p is a two-sided binomial tail.
    """
    a_, b_ = np.asarray(a_correct, dtype=bool), np.asarray(b_correct, dtype=bool)
    if a_.shape != b_.shape or a_.size == 0:
        raise ValueError(f"need two equally long, non-empty lists of right/wrong; got {a_.size} and {b_.size}")
    lost, gained = int((a_ & ~b_).sum()), int((~a_ & b_).sum())
    m, k = lost + gained, min(lost, gained)
    tail = sum(math.comb(m, i) for i in range(k + 1)) / 2 ** m if m else 1.0
    return {"lost": lost, "gained": gained, "p": min(1.0, 2 * tail)}


def share_of_gain(base, full, other, n: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """How much of full's gain over base ``other`` reaches: mean(other - base) / mean(full - base), with a paired
    bootstrap interval (the same examples resampled for all three). NaN bounds where a resample's full gain is <= 0."""
    base, full, other = (np.asarray(x, dtype=float) for x in (base, full, other))
    if not base.size or base.shape != full.shape or base.shape != other.shape:
        raise ValueError(f"need three equally long, non-empty score lists; got {base.size}, {full.size}, {other.size}")
    full_gain = (full - base).mean()
    if full_gain <= 0:
        raise ValueError(f"full's mean gain over base is {full_gain:+.4f}: a share of a gain that is not positive "
                         "means nothing; compare the two differences instead")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, base.size, size=(n, base.size))
    g_full, g_other = (full - base)[idx].mean(axis=1), (other - base)[idx].mean(axis=1)
    ok = g_full > 0
    shares = g_other[ok] / g_full[ok]
    alpha = (1 - level) / 2
    return {"share": float((other - base).mean() / full_gain), "low": float(np.quantile(shares, alpha)),
            "high": float(np.quantile(shares, 1 - alpha)), "resamples_with_no_full_gain": int((~ok).sum())}


def comparisons_table(items: list[dict], scale: float = 100, unit: str = "points") -> str:
    """Markdown table of ``compare`` results: both sides, the difference with its interval, and the verdict."""
    rows = [f"| comparison | n | a | b | b - a ({unit}) | 95% interval | verdict |", "|---|---|---|---|---|---|---|"]
    for c in items:
        rows.append(f"| {c['name']} | {c['n']} | {c['a_label']} {scale * c['a']:.1f} | {c['b_label']} {scale * c['b']:.1f} | "
                    f"{scale * c['diff']:+.1f} | [{scale * c['low']:+.1f}, {scale * c['high']:+.1f}] | {c['verdict']} |")
    return "\n".join(rows)


def improvement_table(before: dict, after: dict, keys=KEYS, n: int = 1000, seed: int = 0) -> str:
    """Markdown table of the absolute improvement (points of ROUGE x 100) of ``after`` over ``before``, as the
    course prints it, with a paired 95% bootstrap interval and the share of examples that improved."""
    rows = ["| metric | before | after | absolute improvement (points) | 95% interval | examples improved |",
            "|---|---|---|---|---|---|"]
    for k in keys:
        d = paired_difference(before["per_example"][k], after["per_example"][k], n, seed)
        rows.append(f"| {k} | {before[k]['mean']:.4f} | {after[k]['mean']:.4f} | {100 * d['mean']:+.2f} | "
                    f"[{100 * d['low']:+.2f}, {100 * d['high']:+.2f}] | {d['improved']:.0%} |")
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


def shot_gain(model, tokenizer, shots: list[list[dict]], rows, k: int, fmt: str = "chat", label: str = "model",
              max_new_tokens: int = 64, batch_size: int = 8, max_batch_tokens: int | None = None, seed: int = 0) -> dict:
    """Zero-shot against k-shot ROUGE-1 of one model on ``rows`` (each with its drawn ``shots``), as a paired
    comparison named ``rouge1_k0_vs_k{k}_{label}`` (see :func:`compare`). Lab 01 runs it for each model size."""
    if k <= 0:
        raise ValueError(f"k must be at least 1 shot to compare with zero-shot, got {k}")
    if len(shots) != len(rows):
        raise ValueError(f"{len(shots)} shot lists for {len(rows)} rows: draw one list per row (prompts.draw_shots)")
    kind = kind_of(model)
    scores = {}
    for shots_k in (0, k):
        texts = [prompts.icl_prompt(tokenizer, s[:shots_k], r, fmt, kind) for s, r in zip(shots, rows)]
        preds = generate.batch(model, tokenizer, texts, max_new_tokens=max_new_tokens, batch_size=batch_size,
                               max_batch_tokens=max_batch_tokens, progress=False)
        scores[shots_k] = per_example(preds, [r["references"] for r in rows])["rouge1"]
    return compare(f"rouge1_k0_vs_k{k}_{label}", "rouge1", scores[0], scores[k], "k=0", f"k={k}", seed=seed)
