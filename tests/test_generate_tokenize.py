import copy

import pytest
import torch
from peft import PromptTuningConfig, PromptTuningInit, TaskType, get_peft_model
from transformers import DataCollatorForSeq2Seq

from helpers import generate, models, prompts
from helpers.tokenizing import (IGNORE, Collator, Truncation, build, encoder_ids, fixed_collator, fixed_lengths, mask_view,
                                padded_tokens, padding_cost, row_lengths)


def test_decoder_only_mask_covers_exactly_the_completion_and_keeps_eos(tokenizer):
    ex = build(tokenizer, "Summarize: hi", "They greet.", "causal", 64, 32)
    n_completion = len(tokenizer("They greet.", add_special_tokens=False)["input_ids"]) + 1
    labelled = [t for t in ex["labels"] if t != IGNORE]
    assert len(labelled) == n_completion
    assert labelled[-1] == tokenizer.eos_token_id == tokenizer.pad_token_id
    assert ex["labels"][: len(ex["labels"]) - n_completion] == [IGNORE] * (len(ex["labels"]) - n_completion)


def test_collator_masks_padding_by_position_not_by_id(tokenizer):
    a = build(tokenizer, "Summarize: a long prompt here", "Ok.", "causal", 64, 32)
    b = build(tokenizer, "Hi", "Fine.", "causal", 64, 32)
    batch = Collator(tokenizer.pad_token_id)([a, b])
    row = batch["labels"][1]
    n = len(b["input_ids"])
    assert row[n - 1].item() == tokenizer.eos_token_id  # the real eos is still a label
    assert (row[n:] == IGNORE).all()  # padding (the same id) is not
    assert (batch["attention_mask"][1, n:] == 0).all()


def test_seq2seq_labels_are_the_completion(tokenizer):
    ex = build(tokenizer, "Summarize: hi", "They greet.", "seq2seq", 64, 32)
    assert IGNORE not in ex["labels"] and ex["labels"][-1] == tokenizer.eos_token_id
    longer = build(tokenizer, "x", "A much longer target here.", "seq2seq", 64, 32)
    batch = Collator(tokenizer.pad_token_id)([ex, longer])
    assert batch["labels"].shape == (2, len(longer["labels"]))  # labels have their own width, the longest target's
    assert batch["labels"][0].tolist() == ex["labels"] + [IGNORE] * (len(longer["labels"]) - len(ex["labels"]))
    assert batch["input_ids"].shape == (2, len(ex["input_ids"]))  # the prompt "x" is shorter than "Summarize: hi"


@pytest.mark.parametrize("kind,multiple_of", [("causal", 1), ("causal", 8), ("seq2seq", 1)])
def test_collator_matches_transformers_data_collator_for_seq2seq(tokenizer, kind, multiple_of):
    pairs = [("Summarize: a long prompt here, please", "Ok."), ("Hi", "Fine, thanks for asking."), ("Yo", "A")]
    rows = [build(tokenizer, p, c, kind, 64, 32) for p, c in pairs]
    ours = Collator(tokenizer.pad_token_id, multiple_of=multiple_of)(copy.deepcopy(rows))
    theirs = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=IGNORE, return_tensors="pt",
                                    pad_to_multiple_of=multiple_of if multiple_of > 1 else None)(copy.deepcopy(rows))
    assert set(ours) == set(theirs)
    for key in ours:
        assert torch.equal(ours[key], theirs[key].long()), key


def test_truncation_is_counted_and_keeps_the_answer_cue(tokenizer):
    report = Truncation()
    prompt = "word " * 100 + "ANSWER:"
    ex = build(tokenizer, prompt, "one two three four five six", "causal", 20, 4, report)
    assert report.prompts_cut == 1 and report.completions_cut == 1
    assert report.prompt_tokens_dropped > 0 and report.completion_tokens_dropped > 0
    tail = tokenizer.decode(ex["input_ids"][:20])
    assert tail.endswith("ANSWER:")
    assert "truncated" in str(report)


def test_padding_cost_dynamic_beats_fixed():
    cost = padding_cost([10, 12, 50, 52, 30, 31], batch_size=2, fixed=64)
    assert cost["useful"] == 185 and cost["dynamic"] < cost["fixed"] == 384


def test_token_budget(tokenizer):
    b = prompts.budget(tokenizer, "hello world", limit=10, max_new_tokens=5)
    assert b.prompt_tokens == 2 and b.fits
    assert not prompts.budget(tokenizer, "word " * 20, limit=10).fits


def test_render_names_a_missing_field():
    with pytest.raises(KeyError, match="dialogue"):
        prompts.render(prompts.SUMMARY_TEMPLATES[0], {"summary": "x"})


def test_left_padded_batch_equals_one_at_a_time(tokenizer):
    model, tok = models.tiny("causal", tokenizer, seed=1)
    ps = ["Hello there, how are", "A", "The weather today is quite"]
    together = generate.batch(model, tok, ps, max_new_tokens=6, batch_size=3, progress=False, precision="fp32")
    alone = [generate.batch(model, tok, [p], max_new_tokens=6, progress=False, precision="fp32")[0] for p in ps]
    assert together == alone
    assert tok.padding_side == "right"  # restored


def test_seq2seq_generation_runs(t5_tokenizer):
    model, tok = models.tiny("seq2seq", t5_tokenizer)
    out = generate.batch(model, tok, ["a b c", "d"], max_new_tokens=4, progress=False)
    assert len(out) == 2 and all(isinstance(o, str) for o in out)


def test_bad_generation_sizes(tokenizer):
    model, tok = models.tiny("causal", tokenizer)
    with pytest.raises(ValueError, match="batch_size"):
        generate.batch(model, tok, ["a"], batch_size=0)


def test_generation_builds_no_autograd_graph(tokenizer, monkeypatch):
    model, tok = models.tiny("causal", tokenizer)
    seen = []
    real = model.generate
    monkeypatch.setattr(model, "generate", lambda **kw: (seen.append(torch.is_grad_enabled()), real(**kw))[1])
    generate.batch(model, tok, ["a b", "c"], max_new_tokens=2, batch_size=2, progress=False, precision="fp32")
    assert seen == [False]  # no activations kept for a backward pass while generating


def test_seq2seq_batch_with_a_row_whose_labels_match_its_input_length(tokenizer):
    same = {"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": [8, 9, 2]}
    other = {"input_ids": [5, 6, 7, 8, 9, 10], "attention_mask": [1] * 6, "labels": [11, 2]}
    batch = Collator(tokenizer.pad_token_id)([same, other])
    assert batch["input_ids"].shape == (2, 6) and batch["labels"].shape == (2, 3)
    assert batch["labels"].tolist() == [[8, 9, 2], [11, 2, IGNORE]]


def test_a_token_budget_puts_fewer_long_prompts_in_a_batch(tokenizer, monkeypatch):
    model, tok = models.tiny("causal", tokenizer, seed=1)
    ps = ["word " * 40, "word " * 38, "short one", "tiny", "a b c d"]
    alone = [generate.batch(model, tok, [p], max_new_tokens=5, progress=False, precision="fp32")[0] for p in ps]
    sizes = []
    real = model.generate
    monkeypatch.setattr(model, "generate", lambda **kw: (sizes.append(kw["input_ids"].shape), real(**kw))[1])
    out = generate.batch(model, tok, ps, max_new_tokens=5, batch_size=4, max_batch_tokens=50, progress=False,
                         precision="fp32")  # batched == alone holds within one precision; bf16 rounds by shape
    assert out == alone  # same answers, in the input order
    assert all(rows * length <= 50 or rows == 1 for rows, length in sizes)
    assert sizes[0][0] == 1 and max(r for r, _ in sizes) > 1  # the long prompts alone, the short ones together
    with pytest.raises(ValueError, match="max_batch_tokens"):
        generate.batch(model, tok, ps, max_batch_tokens=0)


def test_soft_prompt_models_generate_what_a_step_by_step_greedy_loop_gives(embedded):
    """peft prompt tuning generated garbage with the KV cache on the embedded model; generate.batch must match plain
    greedy decoding (one full forward pass per new token)."""
    model, tok = embedded
    pt = get_peft_model(copy.deepcopy(model), PromptTuningConfig(
        task_type=TaskType.CAUSAL_LM, num_virtual_tokens=8, prompt_tuning_init=PromptTuningInit.TEXT,
        prompt_tuning_init_text="Summarize the conversation.", tokenizer_name_or_path=str(models.embedded_folder())))
    pt.eval()
    assert generate.is_prompt_learning(pt) and not generate.is_prompt_learning(model)
    ps = [prompts.for_model(tok, prompts.summary_prompt(d), "causal") for d in
          ("#Person1#: Is the train late?\n#Person2#: Yes, ten minutes.",
           "#Person1#: Can I pay by card?\n#Person2#: Only cash today, sorry.\n#Person1#: Fine, here you are.")]
    got = generate.batch(pt, tok, ps, max_new_tokens=8, batch_size=2, progress=False, precision="fp32")  # left-padded together
    for p, answer in zip(ps, got):
        ids = tok(p, return_tensors="pt", add_special_tokens=False)["input_ids"]
        n = ids.shape[1]
        with torch.no_grad():
            for _ in range(8):
                nxt = pt(input_ids=ids).logits[0, -1].argmax().view(1, 1)
                if nxt.item() == tok.eos_token_id:
                    break
                ids = torch.cat([ids, nxt], dim=1)
        assert answer == tok.decode(ids[0, n:], skip_special_tokens=True).strip()


# ---- T5's special tokens, with the tiny-seq2seq tokenizer (<pad>=0, </s>=1, <unk>=2) --------------------------------

def test_t5_encoder_input_ends_with_eos_in_training_and_in_generation(t5_tokenizer):
    """Training and generation must show the encoder the same ids: the prompt, then </s> (id 1)."""
    tok = t5_tokenizer
    prompt = "Summarize the following conversation.\n\n#Person1#: Hi.\n#Person2#: Hello.\n\nSummary:"
    ex = build(tok, prompt, "They greet.", "seq2seq", 64, 32)
    assert tok.eos_token_id == 1 and ex["input_ids"][-1] == 1 and ex["labels"][-1] == 1
    model, _ = models.tiny("seq2seq", tok)
    seen = []
    real = model.generate
    model.generate = lambda **kw: (seen.append(kw["input_ids"]), real(**kw))[1]
    generate.batch(model, tok, [prompt, "Hi."], max_new_tokens=2, batch_size=2, progress=False, precision="fp32")
    rows = [[t for t in row.tolist() if t != tok.pad_token_id] for row in seen[0]]  # right-padded: strip the pads
    assert ex["input_ids"] in rows and all(r[-1] == 1 for r in rows)


def test_a_cut_t5_prompt_keeps_its_eos_and_its_answer_cue(t5_tokenizer):
    report = Truncation()
    ex = build(t5_tokenizer, "word " * 100 + "Summary:", "Ok.", "seq2seq", 20, 8, report)
    assert len(ex["input_ids"]) == 20 and ex["input_ids"][-1] == t5_tokenizer.eos_token_id
    assert t5_tokenizer.decode(ex["input_ids"], skip_special_tokens=True).endswith("Summary:")
    assert report.prompts_cut == 1 and report.prompt_tokens_dropped > 0


def test_encoder_ids_appends_eos_only_where_the_tokenizer_adds_none(t5_tokenizer, tokenizer):
    assert encoder_ids(t5_tokenizer, "hello") == t5_tokenizer("hello")["input_ids"]  # T5 adds </s> itself
    ids = encoder_ids(tokenizer, "hello")  # SmolLM2 adds nothing: eos is appended
    assert ids[-1] == tokenizer.eos_token_id and ids[:-1] == tokenizer("hello", add_special_tokens=False)["input_ids"]


def test_seq2seq_budget_ignores_max_new_tokens(t5_tokenizer):
    """An encoder-decoder's window holds the prompt alone; the answer is the decoder's."""
    text = "word " * 40
    n = len(encoder_ids(t5_tokenizer, text))  # the prompt as the encoder reads it, with </s>
    s2s = prompts.budget(t5_tokenizer, text, limit=n, max_new_tokens=500, kind="seq2seq")
    assert s2s.prompt_tokens == n and s2s.fits
    assert not prompts.budget(t5_tokenizer, text, limit=n, max_new_tokens=500, kind="causal").fits
    assert not prompts.budget(t5_tokenizer, text, limit=n - 1, kind="seq2seq").fits
    assert prompts.overflow([n - 1, n, n + 1], n, 500, "seq2seq") == pytest.approx(1 / 3)
    assert prompts.overflow([n - 1, n, n + 1], n, 500, "causal") == 1.0
    with pytest.raises(ValueError, match="kind"):
        prompts.budget(t5_tokenizer, text, 10, kind="encoder")


def test_seq2seq_max_shots_counts_only_the_prompt(t5_tokenizer):
    rows = [{"dialogue": f"#Person1#: Line {i}.\n#Person2#: Reply {i}.", "summary": f"Summary {i}."} for i in range(6)]
    counts = prompts.count_tokens(t5_tokenizer, [prompts.icl_prompt(t5_tokenizer, rows[:k], rows[5], "plain", "seq2seq")
                                                 for k in range(4)], "seq2seq")
    limit = counts[2]
    assert prompts.max_shots(t5_tokenizer, rows[:5], rows[5], limit, max_new_tokens=1000, fmt="plain", kind="seq2seq") == 2
    assert prompts.max_shots(t5_tokenizer, rows[:5], rows[5], limit, max_new_tokens=1000, fmt="plain", kind="causal") == -1


def test_seq2seq_padding_counts_encoder_and_decoder_separately():
    """(encoder, decoder) rows: each side is padded to its own longest row, never summed into one sequence."""
    lengths = [(10, 3), (2, 30)]
    cost = padding_cost(lengths, batch_size=2, fixed=fixed_lengths("seq2seq", 16, 32))
    assert cost["useful"] == 45
    assert cost["dynamic"] == 10 * 2 + 30 * 2  # one sequence would have been max(13, 32) * 2 = 64
    assert cost["fixed"] == 16 * 2 + 32 * 2
    assert padded_tokens(lengths, [[0], [1]]) == 45  # alone, nothing is padded
    with pytest.raises(ValueError, match="fixed_lengths"):
        padding_cost(lengths, batch_size=2, fixed=48)


def test_row_lengths_and_fixed_collator_per_kind(t5_tokenizer):
    rows = [build(t5_tokenizer, "a b c d e", "ok", "seq2seq", 64, 32), build(t5_tokenizer, "a", "a longer one", "seq2seq", 64, 32)]
    assert row_lengths(rows, "seq2seq") == [(len(r["input_ids"]), len(r["labels"])) for r in rows]
    assert row_lengths(rows, "causal") == [len(r["input_ids"]) for r in rows]
    batch = fixed_collator(t5_tokenizer.pad_token_id, fixed_lengths("seq2seq", 12, 9))(rows)
    assert batch["input_ids"].shape == (2, 12) and batch["labels"].shape == (2, 9)
    assert (batch["labels"][0, len(rows[0]["labels"]):] == IGNORE).all()
    assert fixed_collator(0, fixed_lengths("causal", 12, 9)).max_length == 21


def test_mask_view_of_a_padded_seq2seq_row_shows_the_decoder_side(t5_tokenizer):
    rows = [build(t5_tokenizer, "hello", "ok", "seq2seq", 64, 32), build(t5_tokenizer, "x", "a much longer target", "seq2seq", 64, 32)]
    padded = Collator(t5_tokenizer.pad_token_id)(rows)
    view = mask_view(t5_tokenizer, {k: v[0].tolist() for k, v in padded.items()})
    n = len(rows[0]["labels"])
    assert [r["in_loss"] for r in view] == [True] * n + [False] * (len(view) - n)
    assert view[n - 1]["token"] == "</s>" and all(r["token"] == "<pad>" for r in view[n:])
