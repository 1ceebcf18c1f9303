"""What the loss is computed on: the self-supervised objective of pre-training against instruction fine-tuning's.

Pre-training a decoder-only model is next-token prediction on every token of the text (labels = input ids).
Supervised fine-tuning (SFT) keeps the loss on the completion only: ``tokenizing.build`` puts -100 over the prompt.
A seq2seq model's prompt is its encoder input, which has no next-token loss at all; T5's self-supervised objective
is span corruption instead: spans of the text become sentinel tokens in the encoder input, and the decoder writes
the missing spans out (Raffel et al. 2020).
"""

from __future__ import annotations

import random

import torch

from .tokenizing import IGNORE, Collator
from .train import token_loss_sums

PARTS = ("every_token", "prompt", "completion")
SENTINEL = "<extra_id_{}>"  # T5's sentinel tokens: <extra_id_0> marks the first dropped span, and so on


def with_loss_on(row: dict, part: str) -> dict:
    """A decoder-only row from ``tokenizing.build`` with its labels on ``part`` of the sequence.

    "every_token": labels = input ids (the pre-training objective); "prompt": the prompt's tokens only (to measure how
    well a model predicts prompts); "completion": the row as built (the SFT loss mask).
    """
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    ids, labels = list(row["input_ids"]), list(row["labels"])
    if len(ids) != len(labels):
        raise ValueError("a seq2seq row has no next-token loss on its encoder input (the prompt); use "
                         "span_corruption for seq2seq's self-supervised objective")
    if part == "every_token":
        labels = ids
    elif part == "prompt":
        labels = [t if lab == IGNORE else IGNORE for t, lab in zip(ids, labels)]
    return {**row, "labels": labels}


@torch.no_grad()
def loss_by_part(model, rows: list[dict], pad_id: int, batch_size: int = 8) -> dict:
    """Mean next-token loss per token on the prompt and on the completion of decoder-only rows (``tokenizing.build``).

    One forward pass a batch scores every token; the SFT labels say which tokens are the completion. The first token
    of a row is never predicted, so it counts in neither part. Returns the two means and their token counts.
    """
    if not rows:
        raise ValueError("loss_by_part got no rows")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    full = [with_loss_on(r, "every_token") for r in rows]  # also refuses seq2seq rows, with the reason
    collate = Collator(pad_id)
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    sums = {"prompt": 0.0, "completion": 0.0}
    counts = {"prompt": 0, "completion": 0}
    try:
        for start in range(0, len(rows), batch_size):
            every = collate(full[start:start + batch_size])
            sft = collate(rows[start:start + batch_size])["labels"][:, 1:]
            logits = model(input_ids=every["input_ids"].to(dev), attention_mask=every["attention_mask"].to(dev)).logits
            labels = every["labels"].to(dev)
            losses = torch.nn.functional.cross_entropy(
                logits[:, :-1].float().reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                ignore_index=IGNORE, reduction="none").view(labels[:, 1:].shape).cpu()
            real = labels[:, 1:].cpu() != IGNORE
            for part, mask in (("prompt", real & (sft == IGNORE)), ("completion", sft != IGNORE)):
                sums[part] += float(losses[mask].double().sum())
                counts[part] += int(mask.sum())
    finally:
        model.train(was_training)
    if not counts["completion"] or not counts["prompt"]:
        raise ValueError(f"the rows have {counts['prompt']} prompt and {counts['completion']} completion tokens to "
                         "score; build them with tokenizing.build (prompt masked with -100, completion labelled)")
    return {"prompt": sums["prompt"] / counts["prompt"], "completion": sums["completion"] / counts["completion"],
            "prompt_tokens": counts["prompt"], "completion_tokens": counts["completion"]}


@torch.no_grad()
def mean_loss(model, rows: list[dict], pad_id: int, batch_size: int = 8) -> float:
    """Mean loss per labelled token of rows with input_ids / attention_mask / labels, for either model kind (a
    seq2seq decoder reads the labels shifted right, as in training)."""
    if not rows:
        raise ValueError("mean_loss got no rows")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    causal = not getattr(model.config, "is_encoder_decoder", False)
    collate = Collator(pad_id)
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for start in range(0, len(rows), batch_size):
            batch = {k: v.to(dev) for k, v in collate(rows[start:start + batch_size]).items()}
            inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
            if not causal:
                inputs["decoder_input_ids"] = model.prepare_decoder_input_ids_from_labels(labels=batch["labels"])
            s, n = token_loss_sums(model(**inputs).logits, batch["labels"], causal)
            total += float(s.double().sum())
            count += int(n.sum())
    finally:
        model.train(was_training)
    if not count:
        raise ValueError("no row has a labelled token: nothing to score")
    return total / count


# --- span corruption: T5's self-supervised objective ---------------------------------------------------------


def sentinel_ids(tokenizer, n: int) -> list[int]:
    """Ids of the first ``n`` sentinel tokens (<extra_id_0>, <extra_id_1>, ...); a clear error where there are none."""
    vocab = tokenizer.get_vocab()
    missing = [SENTINEL.format(i) for i in range(n) if SENTINEL.format(i) not in vocab]
    if missing:
        raise ValueError(f"the tokenizer lacks {len(missing)} of the {n} sentinel tokens span corruption needs "
                         f"(first missing: {missing[0]}); add them with objectives.add_sentinels(model, tokenizer)")
    return [vocab[SENTINEL.format(i)] for i in range(n)]


def add_sentinels(model, tokenizer, n: int = 100) -> int:
    """Add T5's ``n`` sentinel tokens to a tokenizer that lacks them, and grow the model's embeddings to match (the
    new rows are untrained). Changes both in place; returns how many tokens were added."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    new = [SENTINEL.format(i) for i in range(n) if SENTINEL.format(i) not in tokenizer.get_vocab()]
    if new:
        tokenizer.add_tokens(new, special_tokens=True)
        model.resize_token_embeddings(len(tokenizer))
    return len(new)


def noise_spans(length: int, noise_density: float = 0.15, mean_span: float = 3.0,
                rng: random.Random | None = None) -> list[tuple[int, int]]:
    """(start, end) of the spans to drop from ``length`` tokens: about ``noise_density`` of them, in spans of about
    ``mean_span`` tokens, never the whole text, the text always starting with a kept token (as T5's recipe)."""
    if length < 2:
        raise ValueError(f"span corruption needs at least 2 tokens, got {length}")
    if not 0 < noise_density < 1 or mean_span < 1:
        raise ValueError(f"noise_density must be in (0, 1) and mean_span >= 1, got {noise_density}, {mean_span}")
    rng = rng or random.Random(0)
    n_noise = min(max(1, round(length * noise_density)), length - 1)
    n_spans = min(max(1, round(n_noise / mean_span)), n_noise, length - n_noise)

    def split(total: int, parts: int) -> list[int]:  # ``total`` tokens in ``parts`` non-empty runs, at random
        cuts = sorted(rng.sample(range(1, total), parts - 1))
        return [b - a for a, b in zip([0] + cuts, cuts + [total])]

    spans, pos = [], 0
    for keep, drop in zip(split(length - n_noise, n_spans), split(n_noise, n_spans)):
        pos += keep
        spans.append((pos, pos + drop))
        pos += drop
    return spans


def span_corruption(tokenizer, ids: list[int], noise_density: float = 0.15, mean_span: float = 3.0,
                    seed: int = 0) -> dict:
    """A seq2seq row of T5's objective from a text's token ids (without eos): the encoder reads the text with each
    dropped span replaced by a sentinel, the decoder writes ``<extra_id_0> span <extra_id_1> span ... <extra_id_n>``
    and eos. Seeded, so the same text is corrupted the same way."""
    spans = noise_spans(len(ids), noise_density, mean_span, random.Random(seed))
    sentinels = sentinel_ids(tokenizer, len(spans) + 1)
    source, target, pos = [], [], 0
    for s, (start, end) in zip(sentinels, spans):
        source += list(ids[pos:start]) + [s]
        target += [s] + list(ids[start:end])
        pos = end
    source += list(ids[pos:]) + [tokenizer.eos_token_id]
    target += [sentinels[len(spans)], tokenizer.eos_token_id]
    return {"input_ids": source, "attention_mask": [1] * len(source), "labels": target}
