"""The pre-training and fine-tuning objectives: which tokens carry the loss, the loss by part, span corruption."""

import copy
import random

import pytest
import torch

from helpers import models, objectives, train
from helpers.batching import loader
from helpers.tokenizing import IGNORE, build

ROW = {"input_ids": [5, 6, 7, 8, 9], "attention_mask": [1] * 5, "labels": [IGNORE, IGNORE, IGNORE, 8, 9]}
TEXTS = [("#Person1#: Hello, how are you? #Person2#: Fine, thanks, and you?", "They greet each other."),
         ("#Person1#: Where is the station? #Person2#: Two blocks down, on the left.", "#Person2# gives directions."),
         ("#Person1#: I'd like a coffee. #Person2#: Small or large?", "#Person1# orders coffee.")]


def test_with_loss_on_moves_the_labels_between_prompt_completion_and_every_token():
    assert objectives.with_loss_on(ROW, "every_token")["labels"] == [5, 6, 7, 8, 9]
    assert objectives.with_loss_on(ROW, "prompt")["labels"] == [5, 6, 7, IGNORE, IGNORE]
    assert objectives.with_loss_on(ROW, "completion") == ROW
    assert ROW["labels"] == [IGNORE, IGNORE, IGNORE, 8, 9]  # the row itself is not changed
    with pytest.raises(ValueError, match="part must be one of"):
        objectives.with_loss_on(ROW, "answer")
    with pytest.raises(ValueError, match="span_corruption"):  # seq2seq: labels are the decoder's, not the prompt's
        objectives.with_loss_on({"input_ids": [5, 6, 1], "attention_mask": [1] * 3, "labels": [8, 1]}, "every_token")


@pytest.fixture(scope="module")
def causal(t5_tokenizer):
    """A tiny random decoder-only model and rows of three different lengths (padding inside a batch)."""
    model, tok = models.tiny("causal", t5_tokenizer)
    rows = [build(tok, "Summarize: " + d, s, "causal", 64, 16) for d, s in TEXTS]
    return model, tok, rows


def test_loss_by_part_agrees_with_scoring_each_part_alone(causal):
    model, tok, rows = causal
    parts = objectives.loss_by_part(model, rows, tok.pad_token_id, batch_size=3)
    prompt_rows = [objectives.with_loss_on(r, "prompt") for r in rows]
    assert parts["prompt"] == pytest.approx(objectives.mean_loss(model, prompt_rows, tok.pad_token_id), rel=1e-5)
    assert parts["completion"] == pytest.approx(objectives.mean_loss(model, rows, tok.pad_token_id), rel=1e-5)
    # every token but each row's first (nothing predicts it) is in one of the two parts
    assert parts["prompt_tokens"] + parts["completion_tokens"] == sum(len(r["input_ids"]) - 1 for r in rows)
    assert parts["completion_tokens"] == sum(sum(x != IGNORE for x in r["labels"]) for r in rows)
    one_by_one = objectives.loss_by_part(model, rows, tok.pad_token_id, batch_size=1)  # no padding at all
    assert one_by_one["prompt"] == pytest.approx(parts["prompt"], rel=1e-5)
    assert one_by_one["completion"] == pytest.approx(parts["completion"], rel=1e-5)


def test_mean_loss_is_the_training_loops_validation_loss(causal, t5_tokenizer):
    model, tok, rows = causal
    ours = objectives.mean_loss(model, rows, tok.pad_token_id, batch_size=2)
    assert ours == pytest.approx(train.evaluate_loss(model, loader(rows, tok.pad_token_id, 2, shuffle=False)), rel=1e-5)
    s2s, _ = models.tiny("seq2seq", t5_tokenizer)
    s2s_rows = [build(t5_tokenizer, "Summarize: " + d, s, "seq2seq", 64, 16) for d, s in TEXTS]
    expected = train.evaluate_loss(s2s, loader(s2s_rows, t5_tokenizer.pad_token_id, 2, shuffle=False), causal=False)
    assert objectives.mean_loss(s2s, s2s_rows, t5_tokenizer.pad_token_id, 2) == pytest.approx(expected, rel=1e-5)


def test_the_parts_refuse_what_they_cannot_score(causal):
    model, tok, rows = causal
    with pytest.raises(ValueError, match="no rows"):
        objectives.loss_by_part(model, [], tok.pad_token_id)
    with pytest.raises(ValueError, match="completion tokens"):  # every label masked: no completion to score
        objectives.loss_by_part(model, [{**r, "labels": [IGNORE] * len(r["labels"])} for r in rows], tok.pad_token_id)
    with pytest.raises(ValueError, match="labelled token"):
        objectives.mean_loss(model, [{**rows[0], "labels": [IGNORE] * len(rows[0]["labels"])}], tok.pad_token_id)
    with pytest.raises(ValueError, match="batch_size"):
        objectives.mean_loss(model, rows, tok.pad_token_id, batch_size=0)


@pytest.fixture(scope="module")
def with_sentinels(t5_tokenizer):
    model, _ = models.tiny("seq2seq", t5_tokenizer)
    tok = copy.deepcopy(t5_tokenizer)
    with pytest.raises(ValueError, match="add_sentinels"):  # the tiny tokenizer is built without them
        objectives.sentinel_ids(tok, 1)
    assert objectives.add_sentinels(model, tok) == 100
    assert objectives.add_sentinels(model, tok) == 0  # already there: nothing added twice
    return model, tok


def test_add_sentinels_grows_the_tokenizer_and_the_embeddings_together(with_sentinels, t5_tokenizer):
    model, tok = with_sentinels
    assert len(tok) == len(t5_tokenizer) + 100 == model.get_input_embeddings().weight.shape[0]
    assert model.get_output_embeddings().weight.shape[0] == len(tok)
    ids = objectives.sentinel_ids(tok, 3)
    assert tok.convert_ids_to_tokens(ids) == ["<extra_id_0>", "<extra_id_1>", "<extra_id_2>"]
    assert tok.tokenize("a <extra_id_2> b")[1] == "<extra_id_2>"  # one token, never split


@pytest.mark.parametrize("length", [2, 3, 10, 57, 400])
def test_noise_spans_drop_about_the_asked_share_in_separate_spans(length):
    spans = objectives.noise_spans(length, 0.15, 3.0, random.Random(length))
    dropped = sum(e - s for s, e in spans)
    assert dropped == min(max(1, round(length * 0.15)), length - 1)
    assert spans[0][0] > 0 and spans[-1][1] <= length  # the text starts with a kept token
    assert all(s < e for s, e in spans) and all(a[1] < b[0] for a, b in zip(spans, spans[1:]))  # kept tokens between
    if length >= 57:
        assert len(spans) == round(dropped / 3.0)


def test_span_corruption_hides_spans_behind_sentinels_and_the_target_gives_them_back(with_sentinels):
    _, tok = with_sentinels
    ids = tok(TEXTS[1][0] + " " + TEXTS[1][1], add_special_tokens=False)["input_ids"]
    row = objectives.span_corruption(tok, ids, seed=3)
    sentinels = set(objectives.sentinel_ids(tok, 100))
    src, tgt = row["input_ids"], row["labels"]
    assert src[-1] == tgt[-1] == tok.eos_token_id and row["attention_mask"] == [1] * len(src)
    assert tgt[0] in sentinels and tgt[-2] in sentinels
    # put each span back in place of its sentinel: the original text comes back exactly
    spans, current = {}, None
    for t in tgt[:-2]:
        if t in sentinels:
            current = spans.setdefault(t, [])
        else:
            current.append(t)
    rebuilt = [x for t in src[:-1] for x in (spans[t] if t in sentinels else [t])]
    assert rebuilt == ids
    assert 0 < sum(map(len, spans.values())) < len(ids) / 3
    assert objectives.span_corruption(tok, ids, seed=3) == row  # seeded
    with pytest.raises(ValueError, match="at least 2 tokens"):
        objectives.span_corruption(tok, ids[:1])
    with pytest.raises(ValueError, match="noise_density"):
        objectives.noise_spans(10, noise_density=1.5)


def test_a_span_corruption_row_trains_and_scores_with_the_seq2seq_model(with_sentinels):
    model, tok = with_sentinels
    rows = [objectives.span_corruption(tok, tok(d, add_special_tokens=False)["input_ids"], seed=i)
            for i, (d, _) in enumerate(TEXTS)]
    loss = objectives.mean_loss(model, rows, tok.pad_token_id)
    assert torch.isfinite(torch.tensor(loss)) and loss > 0
