import pytest

from conftest import LAB_PRESETS, check_comparisons, run_lab

KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum")


@pytest.mark.lab
@pytest.mark.parametrize("preset", LAB_PRESETS)
def test_lab_04_rouge_before_and_after(lab_runs, preset):
    figs = run_lab("04_rouge_before_and_after", lab_runs, preset)
    assert figs["preset"] == preset and figs["n_test"] >= 2
    for k in KEYS:
        assert 0.0 <= figs[f"{k}_before"] <= 1.0 and 0.0 <= figs[f"{k}_after"] <= 1.0
        assert figs[f"{k}_after_low"] <= figs[f"{k}_after"] <= figs[f"{k}_after_high"]
        assert figs[f"{k}_gain_points"] == pytest.approx(100 * (figs[f"{k}_after"] - figs[f"{k}_before"]), abs=1e-6)
        assert figs[f"{k}_gain_low_points"] <= figs[f"{k}_gain_points"]
    assert 0.0 <= figs["share_improved_rouge1"] <= 1.0
    assert figs["single_seconds_per_example"] > 0 and figs["batched_seconds_per_example"] > 0
    assert figs["gen_seconds"] > 0
    found = check_comparisons(figs, ["rouge1_original_vs_full"], min_n=figs["n_test"])
    assert found["rouge1_original_vs_full"]["diff"] == pytest.approx(figs["rouge1_gain_points"] / 100, abs=1e-9)
