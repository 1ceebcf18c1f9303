"""Prompt templates, few-shot rendering in both formats, token budgets, pairs, and the tokenize additions."""

import pytest

from helpers import prompts
from helpers.tokenizing import IGNORE, Collator, build, build_dataset, mask_string, mask_view, padding_cost

ROWS = [{"id": f"r{i}", "dialogue": f"#Person1#: hello {i}\n#Person2#: bye {i}", "summary": f"They talk {i}.",
         "topic": f"topic {i}"} for i in range(6)]


def test_template_library_sizes_and_fields():
    assert len(prompts.SUMMARY_TEMPLATES) >= 8
    assert len(set(prompts.SUMMARY_TEMPLATES)) == len(prompts.SUMMARY_TEMPLATES)
    for task, (templates, target) in prompts.TASKS.items():
        for t in templates:
            text = prompts.render(t, ROWS[0])
            assert "{" not in text, f"{task}: unfilled field in {t!r}"
            # a template must not give the answer away
            assert ROWS[0][target] not in text
    assert prompts.summary_prompt("D") == prompts.SUMMARY_TEMPLATES[0].format(dialogue="D")


def test_plain_few_shot_holds_the_shots_then_the_question():
    p = prompts.icl_prompt(None, ROWS[:2], ROWS[5], fmt="plain")
    assert p.count("Summary:") == 3 and "They talk 0." in p and "They talk 1." in p
    assert p.endswith(prompts.render(prompts.SUMMARY_TEMPLATES[0], ROWS[5]))
    assert "They talk 5." not in p  # never the answer itself
    assert prompts.icl_prompt(None, [], ROWS[5], fmt="plain") == prompts.summary_prompt(ROWS[5]["dialogue"])


def test_only_decoder_only_prompts_are_chat_wrapped(tokenizer):
    wrapped = prompts.for_model(tokenizer, "Summarize: hi", "causal")
    assert wrapped.startswith("<|im_start|>") and "Summarize: hi" in wrapped
    assert wrapped.rstrip().endswith("<|im_start|>assistant")  # ready for the answer
    assert prompts.for_model(tokenizer, "Summarize: hi", "seq2seq") == "Summarize: hi"


def test_chat_few_shot_uses_turns(tokenizer):
    msgs = prompts.shot_messages(ROWS[:2], ROWS[5])
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant", "user"]
    p = prompts.icl_prompt(tokenizer, ROWS[:2], ROWS[5], fmt="chat")
    assert p.count("<|im_start|>assistant") == 3 and p.rstrip().endswith("<|im_start|>assistant")
    with pytest.raises(ValueError, match="format"):
        prompts.icl_prompt(tokenizer, [], ROWS[0], fmt="markdown")


def test_draw_shots_is_seeded_nested_and_respects_the_budget(tokenizer):
    a = prompts.draw_shots(ROWS, 3, 4, seed=1)
    assert a == prompts.draw_shots(ROWS, 3, 4, seed=1)
    b = prompts.draw_shots(ROWS, 5, 2, seed=1)
    assert [s[:2] for s in a] == b[:3]  # nested in k, independent of the number of rows
    assert all(len({r["id"] for r in s}) == 4 for s in a)
    with pytest.raises(ValueError, match="only 6"):
        prompts.draw_shots(ROWS, 1, 7)
    short = prompts.draw_shots(ROWS + [dict(ROWS[0], id="long", dialogue="word " * 500)], 4, 6, max_tokens=50,
                               tokenizer=tokenizer)
    assert all(r["id"] != "long" for s in short for r in s)


def test_token_budget_and_max_shots(tokenizer):
    counts = prompts.count_tokens(tokenizer, [prompts.icl_prompt(tokenizer, ROWS[:k], ROWS[5]) for k in range(4)])
    assert counts == sorted(counts) and len(set(counts)) == 4  # more shots, more tokens
    limit = counts[2] + 10
    assert prompts.max_shots(tokenizer, ROWS[:5], ROWS[5], limit, max_new_tokens=10) == 2
    assert prompts.max_shots(tokenizer, ROWS[:5], ROWS[5], 5) == -1
    assert prompts.budget(tokenizer, "hello world", 10, 8).share == pytest.approx(0.2)
    with pytest.raises(ValueError, match="positive"):
        prompts.budget(tokenizer, "x", 0)


def test_pairs_fixed_and_mixed_templates():
    fixed = prompts.pairs(ROWS, "topic", templates=1)
    assert all(p["template"] == 1 and p["completion"] == r["topic"] for p, r in zip(fixed, ROWS))
    mixed = prompts.pairs(ROWS * 5, "summarize", seed=3)
    assert mixed == prompts.pairs(ROWS * 5, "summarize", seed=3)
    assert len({p["template"] for p in mixed}) > 1
    back = prompts.pair(ROWS[0], "write_dialogue", 0)
    assert back["completion"] == ROWS[0]["dialogue"] and ROWS[0]["summary"] in back["prompt"]
    with pytest.raises(ValueError, match="unknown task"):
        prompts.pair(ROWS[0], "translate")
    with pytest.raises(ValueError, match="templates 0.."):
        prompts.pair(ROWS[0], "topic", 99)


def test_mask_view_shows_exactly_the_completion(tokenizer):
    ex = build(tokenizer, "Summarize: hi", "They greet.", "causal", 64, 32)
    view = mask_view(tokenizer, ex)
    n_completion = len(tokenizer("They greet.", add_special_tokens=False)["input_ids"]) + 1
    assert sum(r["in_loss"] for r in view) == n_completion
    assert view[-1]["in_loss"] and view[-1]["id"] == tokenizer.eos_token_id
    assert mask_string(tokenizer, ex).startswith("[Summarize: hi]")
    padded = Collator(tokenizer.pad_token_id)([ex, build(tokenizer, "Summarize: a much longer prompt here", "Ok.",
                                                          "causal", 64, 32)])
    row = {k: v[0].tolist() for k, v in padded.items()}
    assert sum(r["in_loss"] for r in mask_view(tokenizer, row)) == n_completion  # padding (== eos id) is not in it
    s2s = build(tokenizer, "Summarize: hi", "They greet.", "seq2seq", 64, 32)
    assert all(r["in_loss"] for r in mask_view(tokenizer, s2s))


def test_fixed_padding_collator(tokenizer):
    a = build(tokenizer, "Hi", "Fine.", "causal", 64, 32)
    batch = Collator(tokenizer.pad_token_id, max_length=40)([a])
    assert batch["input_ids"].shape == (1, 40) and int(batch["attention_mask"].sum()) == len(a["input_ids"])
    with pytest.raises(ValueError, match="max_length"):
        Collator(tokenizer.pad_token_id, max_length=2)([a])


def test_long_completion_policies(tokenizer):
    rows = [dict(ROWS[0], summary="word " * 40), ROWS[1]]
    to_prompt = lambda r: prompts.summary_prompt(r["dialogue"])  # noqa: E731
    ds_cut, cut = build_dataset(rows, tokenizer, "causal", to_prompt, 64, 8, on_long_completion="cut")
    assert cut.completions_cut == 1 and cut.dropped == 0 and cut.rows == 2
    assert sum(t != IGNORE for t in ds_cut[0]["labels"]) == 8  # the long completion, cut to max_target
    ds, drop = build_dataset(rows, tokenizer, "causal", to_prompt, 64, 8, on_long_completion="drop")
    assert len(ds) == 1 and drop.dropped == 1 and drop.completions_cut == 0 and "dropped" in str(drop)
    with pytest.raises(ValueError, match="max_target"):
        build_dataset(rows, tokenizer, "causal", to_prompt, 64, 8, on_long_completion="raise")
    with pytest.raises(ValueError, match="on_long_completion"):
        build_dataset(rows, tokenizer, "causal", to_prompt, 64, 8, on_long_completion="ignore")


def test_padding_cost_saved_share():
    cost = padding_cost([10, 10, 50, 50], batch_size=2, fixed=100)
    assert cost["dynamic"] == 120 and cost["fixed"] == 400 and cost["saved"] == pytest.approx(0.7)
    assert cost["dynamic_waste"] == 0 and cost["fixed_waste"] == pytest.approx(0.7)
