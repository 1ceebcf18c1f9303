"""Turn prompt-completion pairs into model inputs with loss masks, and pad batches dynamically.

Decoder-only: one sequence ``prompt + completion + eos``; labels are -100 over the prompt (and, in the
collator, over padding by *position*), so the closing eos stays in the loss even when pad == eos.
Seq2seq: the prompt is the encoder input, ending with eos (T5's ``</s>``) exactly as at generation
(:func:`encoder_ids` serves both), and the completion (+ eos) the labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from datasets import Dataset

from . import prompts

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
    dropped: int = 0  # rows left out because their completion would not fit (policy "drop")

    def __str__(self) -> str:
        return (f"{self.rows} rows: {self.prompts_cut} prompts truncated ({self.prompt_tokens_dropped} tokens dropped), "
                f"{self.completions_cut} completions truncated ({self.completion_tokens_dropped} tokens dropped)"
                + (f", {self.dropped} rows dropped for a completion over the limit" if self.dropped else ""))


def _ids(tokenizer, text: str) -> list[int]:
    """Token ids of ``text`` alone (no special tokens: the caller adds eos where it belongs)."""
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def encoder_ids(tokenizer, text: str) -> list[int]:
    """What a seq2seq encoder reads for ``text``, in training and at generation alike: the tokenizer's own special
    tokens (T5: the text, then ``</s>``), with eos appended where the tokenizer adds none."""
    ids = tokenizer(text)["input_ids"]
    eos = tokenizer.eos_token_id
    return ids if ids and ids[-1] == eos else ids + [eos]


def encoder_batch(tokenizer, texts: list[str]) -> dict[str, torch.Tensor]:
    """Encoder inputs of several texts (:func:`encoder_ids`), right-padded with the pad id, and their mask."""
    if not texts:
        raise ValueError("encoder_batch got no texts")
    rows = [encoder_ids(tokenizer, t) for t in texts]
    width = max(len(r) for r in rows)
    return {"input_ids": _pad(rows, tokenizer.pad_token_id, width),
            "attention_mask": _pad([[1] * len(r) for r in rows], 0, width)}


def _cut_prompt(ids: list[int], limit: int, keep_tail: int) -> list[int]:
    """Drop tokens from the middle so the instruction (head) and the answer cue (tail) survive."""
    keep_tail = min(keep_tail, limit // 2)
    return ids[: limit - keep_tail] + ids[len(ids) - keep_tail:]


def build(tokenizer, prompt: str, completion: str, kind: str, max_source: int, max_target: int,
          report: Truncation | None = None, keep_tail: int = 8) -> dict:
    """input_ids / attention_mask / labels for one pair; cuts are counted in ``report``."""
    if max_source <= 0 or max_target <= 0:
        raise ValueError(f"max_source and max_target must be positive, got {max_source}, {max_target}")
    if kind not in ("causal", "seq2seq"):
        raise ValueError(f"kind must be 'causal' or 'seq2seq', got {kind!r}")
    eos = tokenizer.eos_token_id
    p_ids = _ids(tokenizer, prompt) if kind == "causal" else encoder_ids(tokenizer, prompt)
    c_ids = _ids(tokenizer, completion) + [eos]
    report = report if report is not None else Truncation()
    report.rows += 1
    if len(p_ids) > max_source:
        report.prompts_cut += 1
        report.prompt_tokens_dropped += len(p_ids) - max_source
        if kind == "causal":
            p_ids = _cut_prompt(p_ids, max_source, keep_tail)
        else:  # the same cut before the encoder input's closing eos, which stays
            p_ids = _cut_prompt(p_ids[:-1], max_source - 1, keep_tail) + p_ids[-1:]
    if len(c_ids) > max_target:
        report.completions_cut += 1
        report.completion_tokens_dropped += len(c_ids) - max_target
        if len(report.examples) < 5:
            report.examples.append(completion[:80])
        c_ids = c_ids[:max_target]
    if kind == "causal":
        ids = p_ids + c_ids
        return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": [IGNORE] * len(p_ids) + c_ids}
    return {"input_ids": p_ids, "attention_mask": [1] * len(p_ids), "labels": c_ids}


POLICIES = ("cut", "drop", "raise")


def build_dataset(ds, tokenizer, kind: str, to_prompt, max_source: int, max_target: int,
                  target_field: str = "summary", on_long_completion: str = "cut"):
    """Tokenize a Dataset: ``to_prompt(row) -> str`` gives what the model reads; returns (Dataset, Truncation).

    Long prompts are cut in the middle (counted). A completion longer than ``max_target`` (with its eos) is cut and
    counted (``"cut"``), its row left out and counted (``"drop"``), or refused with an error (``"raise"``).
    """
    if on_long_completion not in POLICIES:
        raise ValueError(f"on_long_completion must be one of {POLICIES}, got {on_long_completion!r}")
    report = Truncation()
    rows = []
    for r in ds:
        if on_long_completion != "cut":
            n = len(_ids(tokenizer, r[target_field])) + 1
            if n > max_target:
                if on_long_completion == "raise":
                    raise ValueError(f"row {r.get('id', '?')}: completion has {n} tokens (with eos) > max_target "
                                     f"{max_target}; raise max_target or use on_long_completion='cut' or 'drop'")
                report.dropped += 1
                continue
        rows.append(build(tokenizer, to_prompt(r), r[target_field], kind, max_source, max_target, report))
    if report.prompts_cut or report.completions_cut or report.dropped:
        print(f"truncation: {report}")
    return Dataset.from_list(rows), report


def _pad(seqs: list, value: int, width: int) -> torch.Tensor:
    """Right-pad every sequence with ``value`` to ``width``, as one long tensor."""
    return torch.tensor([list(seq) + [value] * (width - len(seq)) for seq in seqs], dtype=torch.long)


@dataclass
class Collator:
    """Pads a batch on the right to its own longest row (dynamic padding); padding is masked by position in the labels.

    Where they overlap it returns what transformers' ``DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100)``
    returns (a test checks it); it also pads to a fixed ``max_length`` and needs no tokenizer.
    """

    pad_id: int
    multiple_of: int = 1
    max_length: int | None = None  # pad every batch to this width instead (fixed padding, as padding="max_length")
    max_label_length: int | None = None  # seq2seq with fixed padding: the decoder side's own width

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("Collator got an empty batch")
        width = max(len(r["input_ids"]) for r in rows)
        if self.max_length is not None:
            if width > self.max_length:
                raise ValueError(f"a row has {width} tokens > Collator.max_length {self.max_length}; "
                                 "tokenize with a smaller max_source/max_target or raise max_length")
            width = self.max_length
        width = -(-width // self.multiple_of) * self.multiple_of
        # decoder-only rows have labels aligned with their inputs; seq2seq labels have their own width
        aligned = all(len(r["labels"]) == len(r["input_ids"]) for r in rows)
        label_width = width if aligned else max(len(r["labels"]) for r in rows)
        if not aligned and self.max_label_length is not None:
            if label_width > self.max_label_length:
                raise ValueError(f"a row has {label_width} labels > Collator.max_label_length {self.max_label_length}")
            label_width = self.max_label_length
        return {"input_ids": _pad([r["input_ids"] for r in rows], self.pad_id, width),
                "attention_mask": _pad([r["attention_mask"] for r in rows], 0, width),
                "labels": _pad([r["labels"] for r in rows], IGNORE, label_width)}


def row_lengths(rows, kind: str) -> list:
    """What padding is computed over, per row: one sequence length (decoder-only), or (encoder, decoder) lengths
    (seq2seq: the prompt and the answer are two sequences, padded separately)."""
    ids, labels = (rows["input_ids"], rows["labels"]) if hasattr(rows, "column_names") else \
        ([r["input_ids"] for r in rows], [r["labels"] for r in rows])
    if kind == "causal":
        return [len(x) for x in ids]
    if kind == "seq2seq":
        return [(len(x), len(y)) for x, y in zip(ids, labels)]
    raise ValueError(f"kind must be 'causal' or 'seq2seq', got {kind!r}")


def fixed_lengths(kind: str, max_source: int, max_target: int):
    """The fixed-padding width(s) matching :func:`row_lengths`: source + target for one decoder-only sequence,
    (source, target) for an encoder and a decoder."""
    return max_source + max_target if kind == "causal" else (max_source, max_target)


def _streams(lengths: list) -> list[list[int]]:
    """Row lengths as one list per sequence (one for decoder-only rows, two for (encoder, decoder) rows)."""
    if not lengths:
        raise ValueError("no row lengths given")
    rows = [tuple(x) if isinstance(x, (tuple, list)) else (x,) for x in lengths]
    return [list(s) for s in zip(*rows)]


def padded_tokens(lengths: list, batches: list[list[int]]) -> int:
    """Tokens computed when each batch (a list of row indices) pads every sequence to its own longest row."""
    return sum(max(s[i] for i in b) * len(b) for s in _streams(lengths) for b in batches if b)


def fixed_collator(pad_id: int, fixed) -> "Collator":
    """A collator that pads every row to ``fixed`` (from :func:`fixed_lengths`): one width, or encoder and decoder
    widths of their own."""
    if isinstance(fixed, (tuple, list)):
        return Collator(pad_id, max_length=fixed[0], max_label_length=fixed[1])
    return Collator(pad_id, max_length=fixed)


def padding_cost(lengths: list, batch_size: int, fixed=None) -> dict:
    """Tokens computed with dynamic padding (per batch, in order) against padding every row to ``fixed``.

    ``lengths`` come from :func:`row_lengths` (ints, or (encoder, decoder) pairs whose two sides are padded and
    counted separately); ``fixed`` from :func:`fixed_lengths` (default: the longest of each side).
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    streams = _streams(lengths)
    fixed = tuple(max(s) for s in streams) if fixed is None else fixed
    fixed = tuple(fixed) if isinstance(fixed, (tuple, list)) else (fixed,)
    if len(fixed) != len(streams):
        raise ValueError(f"fixed gives {len(fixed)} length(s) for rows of {len(streams)} sequence(s); "
                         "use tokenizing.fixed_lengths(kind, max_source, max_target)")
    n = len(streams[0])
    useful = sum(map(sum, streams))
    dynamic = padded_tokens(lengths, [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)])
    padded = sum(f * n for f in fixed)
    return {"useful": useful, "dynamic": dynamic, "fixed": padded,
            "dynamic_waste": 1 - useful / dynamic, "fixed_waste": 1 - useful / padded,
            "saved": 1 - dynamic / padded}  # share of the fixed-padding tokens that dynamic padding avoids


def mask_view(tokenizer, example: dict, limit: int | None = None) -> list[dict]:
    """The loss mask token by token: position, token text, input id, label (None where -100) and whether the
    position counts in the loss. For a decoder-only row, label i is the target the model predicts *at* token i
    (transformers shifts inside the model)."""
    ids, labels = list(example["input_ids"]), list(example["labels"])
    aligned = len(ids) == len(labels)
    seq = ids if aligned else labels  # seq2seq: show the decoder side, where the loss lives
    rows = []
    for i, tok in enumerate(seq[:limit]):
        lab = labels[i] if i < len(labels) else IGNORE
        tok = tokenizer.pad_token_id if tok == IGNORE else tok  # a padded label: the decoder reads pad there
        rows.append({"pos": i, "token": tokenizer.convert_ids_to_tokens(int(tok)), "id": int(tok),
                     "label": None if lab == IGNORE else int(lab), "in_loss": lab != IGNORE})
    return rows


def mask_string(tokenizer, example: dict) -> str:
    """The whole row as text with the tokens outside the loss in [brackets]: one glance shows what is learned."""
    out, run, state = [], [], None
    for r in mask_view(tokenizer, example) + [{"in_loss": None, "token": None}]:
        if r["in_loss"] != state and run:
            text = tokenizer.convert_tokens_to_string(run)
            out.append(text if state else f"[{text}]")
            run = []
        state = r["in_loss"]
        if r["token"] is not None:
            run.append(r["token"])
    return "".join(out)


def summary_dataset(tokenizer, kind: str, rows, max_source: int, max_target: int):
    """Tokenized summarization pairs: the chat-wrapped prompt (decoder-only) or the plain prompt (seq2seq)."""
    def to_prompt(row: dict) -> str:
        return prompts.for_model(tokenizer, prompts.summary_prompt(row["dialogue"]), kind)

    return build_dataset(rows, tokenizer, kind, to_prompt, max_source, max_target)[0]
