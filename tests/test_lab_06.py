import json

import pytest

from conftest import LAB_PRESETS, check_comparisons, run_lab


@pytest.mark.lab
@pytest.mark.parametrize("preset", LAB_PRESETS)
def test_lab_06_peft_lora(lab_runs, preset):
    figs = run_lab("06_peft_lora", lab_runs, preset)
    assert figs["preset"] == preset
    # from scratch: identity at init, frozen weights stay, merge equals the unmerged model
    assert figs["identity_at_init"] is True and figs["frozen_unchanged"] is True
    assert figs["scratch_merge_max_diff"] < 1e-3
    # peft: the same trainable count as ours, a small share, a smaller file, the same outputs after merging
    assert figs["peft_trainable"] == figs["scratch_trainable"] > 0
    assert figs["adapter_bytes"] < figs["model_bytes"]
    assert figs["merge_max_diff"] < 1e-3
    # memory: both measured; their order is not asserted, since on a CPU the peak is sampled from the process's
    # memory in use and the allocator's reuse makes a single smoke step noisy (seen both ways here)
    assert figs["peak_extra_mb_full"] > 0 and figs["peak_extra_mb_lora"] > 0
    assert figs["seconds_per_step_full"] > 0 and figs["seconds_per_step_lora"] > 0
    for key in ("rouge1_original", "rouge1_full", "rouge1_lora", "rouge1_prompt"):
        assert 0.0 <= figs[key] <= 1.0
    assert len(figs["rouge"]) == 3
    ranks = [s["r"] for s in figs["sweep"]]
    assert len(ranks) >= 2 and ranks == sorted(ranks)
    trainable = [s["trainable"] for s in figs["sweep"]]
    assert trainable == sorted(trainable) and trainable[-1] // trainable[0] == ranks[-1] // ranks[0]  # linear in r
    # virtual tokens x hidden size, once for a decoder-only model, for the encoder and the decoder of a seq2seq one
    assert figs["prompt_sides"] == (1 if preset == "smoke" else 2)
    assert figs["prompt_trainable"] == figs["prompt_tokens"] * figs["hidden_size"] * figs["prompt_sides"]
    if preset == "smoke":
        assert 0 < figs["trainable_share"] < 0.01 and figs["adapter_bytes"] * 50 < figs["model_bytes"]
    else:  # the tiny model's embeddings are small, so its adapter is a larger share
        assert 0 < figs["trainable_share"] < 0.2
    # matched budgets: the same rows and epochs for both, each rate chosen on validation from a grid of the same size
    assert figs["lora_train_rows"] == figs["full_train_rows"] > 0 and figs["lora_epochs"] == figs["full_epochs"]
    assert len(figs["lora_lr_search"]) == len(figs["full_lr_search"]) >= 2
    assert figs["lora_learning_rate"] == min(figs["lora_lr_search"], key=lambda r: r["eval_loss"])["learning_rate"]
    lab05 = lab_runs / preset / "05_catastrophic_forgetting.json"
    if lab05.exists():  # lab 05 ran earlier in this run folder: its LoRA search is reused here, not run again
        assert json.loads(lab05.read_text())["lora_lr_search"] == figs["lora_lr_search"]
    assert figs["full_learning_rate"] == min(figs["full_lr_search"], key=lambda r: r["eval_loss"])["learning_rate"]
    assert figs["prompt_learning_rate"] == min(figs["prompt_lr_search"], key=lambda r: r["eval_loss"])["learning_rate"]
    found = check_comparisons(figs, ["rouge1_full_vs_lora", "rouge1_original_vs_full", "rouge1_original_vs_lora",
                                     "rouge1_original_vs_prompt"], min_n=figs["n_test"])
    assert found["rouge1_full_vs_lora"]["diff"] == pytest.approx(figs["rouge1_lora"] - figs["rouge1_full"], abs=1e-9)
    if found["rouge1_original_vs_full"]["low"] > 0:  # a share is reported only for a measurable gain
        assert figs["lora_share_of_full_gain_low"] <= figs["lora_share_of_full_gain"] <= figs["lora_share_of_full_gain_high"]
    else:
        assert figs["lora_share_of_full_gain"] is None
    assert len([c for c in found if c.startswith("rouge1_r")]) == len(ranks) - 1
    # one base, two adapters: both timings recorded (their ratio is a measurement, not a test)
    assert figs["adapter_swap_seconds"] > 0 and figs["adapter_reload_seconds"] > 0 and figs["topic_train_rows"] > 0
