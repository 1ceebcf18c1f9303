"""Turn prompt-completion pairs into model inputs with loss masks, and pad batches dynamically.

Decoder-only: one sequence ``prompt + completion + eos``; labels are -100 over the prompt (and, in the
collator, over padding by *position*), so the closing eos stays in the loss even when pad == eos.
Seq2seq: the prompt is the encoder input, the completion (+ eos) the labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

IGNORE = -100


@dataclass
class Truncation:
    """What the length limits cut, counted and reported, never silent."""

    rows: int = 0
    prompts_cut: int = 0
    completions_cut: int = 0
    prompt_tokens_dropped: int = 0
    completion_tokens_dropped: int = 0
    examples: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"{self.rows} rows: {self.prompts_cut} prompts truncated ({self.prompt_tokens_dropped} tokens dropped), "
                f"{self.completions_cut} completions truncated ({self.completion_tokens_dropped} tokens dropped)")


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _cut_prompt(ids: list[int], limit: int, keep_tail: int) -> list[int]:
    """Drop tokens from the middle so the instruction (head) and the answer cue (tail) survive."""
    keep_tail = min(keep_tail, limit // 2)
    return ids[: limit - keep_tail] + ids[len(ids) - keep_tail:]


def build(tokenizer, prompt: str, completion: str, kind: str, max_source: int, max_target: int,
          report: Truncation | None = None, keep_tail: int = 8) -> dict:
    """input_ids / attention_mask / labels for one pair; cuts are counted in ``report``."""
    if max_source <= 0 or max_target <= 0:
        raise ValueError(f"max_source and max_target must be positive, got {max_source}, {max_target}")
    eos = tokenizer.eos_token_id
    p_ids, c_ids = _ids(tokenizer, prompt), _ids(tokenizer, completion) + [eos]
    report = report if report is not None else Truncation()
    report.rows += 1
    if len(p_ids) > max_source:
        report.prompts_cut += 1
        report.prompt_tokens_dropped += len(p_ids) - max_source
        p_ids = _cut_prompt(p_ids, max_source, keep_tail if kind == "causal" else 0)
    if len(c_ids) > max_target:
        report.completions_cut += 1
        report.completion_tokens_dropped += len(c_ids) - max_target
        if len(report.examples) < 5:
            report.examples.append(completion[:80])
        c_ids = c_ids[:max_target]
    if kind == "causal":
        ids = p_ids + c_ids
        return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": [IGNORE] * len(p_ids) + c_ids}
    if kind == "seq2seq":
        return {"input_ids": p_ids, "attention_mask": [1] * len(p_ids), "labels": c_ids}
    raise ValueError(f"kind must be 'causal' or 'seq2seq', got {kind!r}")


def build_dataset(ds, tokenizer, kind: str, to_prompt, max_source: int, max_target: int,
                  target_field: str = "summary"):
    """Tokenize a Dataset: ``to_prompt(row) -> str`` gives what the model reads; returns (Dataset, Truncation)."""
    from datasets import Dataset

    report = Truncation()
    rows = [build(tokenizer, to_prompt(r), r[target_field], kind, max_source, max_target, report) for r in ds]
    if report.prompts_cut or report.completions_cut:
        print(f"truncation: {report}")
    return Dataset.from_list(rows), report


@dataclass
class Collator:
    """Pads a batch to its own longest row (dynamic padding); padding is masked by position in the labels."""

    pad_id: int
    side: str = "right"
    multiple_of: int = 1

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        width = max(len(r["input_ids"]) for r in rows)
        width = -(-width // self.multiple_of) * self.multiple_of
        out = {"input_ids": [], "attention_mask": [], "labels": []}
        lab_width = max(len(r["labels"]) for r in rows)
        for r in rows:
            n = width - len(r["input_ids"])
            pad = lambda seq, val, k: ([val] * k + list(seq)) if self.side == "left" else (list(seq) + [val] * k)  # noqa: E731
            out["input_ids"].append(pad(r["input_ids"], self.pad_id, n))
            out["attention_mask"].append(pad(r["attention_mask"], 0, n))
            if len(r["labels"]) == len(r["input_ids"]):  # decoder-only: labels aligned with inputs
                out["labels"].append(pad(r["labels"], IGNORE, n))
            else:  # seq2seq: labels padded to their own width
                out["labels"].append(list(r["labels"]) + [IGNORE] * (lab_width - len(r["labels"])))
        if any(len(r["labels"]) != len(r["input_ids"]) for r in rows):
            out["labels"] = [lab + [IGNORE] * (lab_width - len(lab)) for lab in out["labels"]]
        return {k: torch.tensor(v, dtype=torch.long) for k, v in out.items()}


def padding_cost(lengths: list[int], batch_size: int, fixed: int | None = None) -> dict:
    """Tokens computed with dynamic padding (per batch, in order) against padding every row to ``fixed``."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    useful = sum(lengths)
    dynamic = sum(max(lengths[i:i + batch_size]) * len(lengths[i:i + batch_size]) for i in range(0, len(lengths), batch_size))
    fixed = fixed or max(lengths)
    padded = fixed * len(lengths)
    return {"useful": useful, "dynamic": dynamic, "fixed": padded,
            "dynamic_waste": 1 - useful / dynamic, "fixed_waste": 1 - useful / padded}
