import pytest

from conftest import LAB_PRESETS, check_comparisons, run_lab


@pytest.mark.lab
@pytest.mark.parametrize("preset", LAB_PRESETS)
def test_lab_01_in_context_learning_limits(lab_runs, preset):
    figs = run_lab("01_in_context_learning_limits", lab_runs, preset)
    assert figs["preset"] == preset and figs["n_eval"] >= 1
    ks = figs["k_values"]
    assert ks[0] == 0 and ks == sorted(ks)
    for key in ("rouge1", "rouge2", "rougeL"):
        assert set(figs[key]) == {str(k) for k in ks}
        assert all(0.0 <= v <= 1.0 for v in figs[key].values())
    for k in ks:
        assert figs["rouge1_low"][str(k)] <= figs["rouge1"][str(k)] <= figs["rouge1_high"][str(k)]
        assert figs["seconds_per_example"][str(k)] > 0
        assert 0.0 <= figs["dialogue_like"][str(k)] <= 1.0
    assert all(0.0 <= v <= 1.0 for v in figs["plain_rouge1"].values()) and "0" in figs["plain_rouge1"]
    # token counts grow with k, in both formats; so do the overflow shares
    counted = sorted(int(k) for k in figs["prompt_tokens"])
    for table in ("prompt_tokens", "plain_prompt_tokens"):
        values = [figs[table][str(k)] for k in counted]
        assert all(a < b for a, b in zip(values, values[1:])), table
    for table in ("overflow_512", "overflow_model"):
        values = [figs[table][str(k)] for k in counted]
        assert all(0.0 <= v <= 1.0 for v in values) and values == sorted(values), table
    assert figs["overflow_512"]["0"] < 1.0 and figs["overflow_512"][str(counted[-1])] > 0.5
    # the gain and its paired interval are consistent with the recorded means
    best = str(figs["best_k"])
    assert figs["rouge1_gain"] == pytest.approx(figs["rouge1"][best] - figs["rouge1"]["0"], abs=1e-9)
    assert figs["rouge1_gain_low"] <= figs["rouge1_gain"] <= figs["rouge1_gain_high"]
    assert set(figs["decoding_rouge1"]) == {"greedy", "T=0.7", "T=1.3"}
    found = check_comparisons(figs, [f"rouge1_k0_vs_k{k}" for k in ks[1:]], min_n=figs["n_eval"])
    for k in ks[1:]:
        assert found[f"rouge1_k0_vs_k{k}"]["b"] == pytest.approx(figs["rouge1"][str(k)], abs=1e-9)
    sampled = check_comparisons(figs, ["rouge1_greedy_vs_T=0.7", "rouge1_greedy_vs_T=1.3"], min_n=figs["n_decoding"])
    assert sampled["rouge1_greedy_vs_T=0.7"]["a"] == pytest.approx(figs["decoding_rouge1"]["greedy"], abs=1e-9)
    assert all(0.0 <= v <= 1.0 for v in figs["decoding_rouge1"].values())
    # model size: at least the lab's own model, with its gain equal to the sweep's paired difference for the largest k
    assert len(figs["size_gain"]) >= 1 and all(p > 0 for p in figs["size_params"].values())
    own = found.get(f"rouge1_k0_vs_k{ks[-1]}")
    assert own is not None and own["diff"] in figs["size_gain"].values()
    if preset == "smoke":
        assert len(ks) >= 3
        assert figs["model_limit"] == 8192 and figs["overflow_model"]["0"] == 0.0
    else:
        # an encoder-decoder's 512-token window holds the prompt alone, so "fits the model" and "fits FLAN-T5's 512"
        # are the same test; the answer's max_new_tokens does not count against it, and one shot still fits
        assert figs["model_limit"] == 512 and figs["overflow_model"] == figs["overflow_512"]
        assert 1 in ks
