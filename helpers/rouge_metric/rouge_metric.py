"""ROUGE as an `evaluate` metric module, loaded by path (``evaluate.load(path)``) so no Hub is needed.

rouge1, rouge2, rougeL and rougeLsum (one sentence a line), F-measure, Porter stemming on by default,
several references per prediction (the best-matching one counts), deterministic mean over examples.
"""

import re

import datasets
import evaluate
from rouge_score import rouge_scorer

_KEYS = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z#\"'(0-9])")


def sentences_per_line(text: str) -> str:
    """One sentence a line, as rougeLsum expects (a regex splitter: no tokenizer data to download)."""
    return "\n".join(s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip())


class RougeMetric(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="Lin, C.-Y. (2004). ROUGE: A Package for Automatic Evaluation of Summaries.",
            inputs_description="predictions: list of str; references: list of str or list of list of str",
            features=[
                datasets.Features({"predictions": datasets.Value("string"),
                                   "references": datasets.Sequence(datasets.Value("string"))}),
                datasets.Features({"predictions": datasets.Value("string"),
                                   "references": datasets.Value("string")}),
            ],
        )

    def _compute(self, predictions, references, use_stemmer=True, use_aggregator=True, rouge_types=None):
        rouge_types = list(rouge_types or _KEYS)
        scorer = rouge_scorer.RougeScorer(rouge_types, use_stemmer=use_stemmer)
        per_example = {k: [] for k in rouge_types}
        for pred, refs in zip(predictions, references):
            refs = [refs] if isinstance(refs, str) else list(refs)
            pred_s = sentences_per_line(pred)
            refs_s = [sentences_per_line(r) for r in refs]
            scores = scorer.score_multi(refs_s, pred_s)
            for k in rouge_types:
                per_example[k].append(scores[k].fmeasure)
        if not use_aggregator:
            return per_example
        return {k: (sum(v) / len(v) if v else 0.0) for k, v in per_example.items()}
