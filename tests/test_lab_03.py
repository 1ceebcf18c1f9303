import pytest

from conftest import run_lab


@pytest.mark.lab
def test_lab_03_full_fine_tuning(lab_runs):
    figs = run_lab("03_full_fine_tuning_with_accelerate", lab_runs)
    assert figs["preset"] == "smoke"
    assert 130e6 < figs["n_params"] < 140e6
    assert figs["steps"] >= 1 and figs["train_examples"] >= 4
    assert figs["final_loss"] > 0 and figs["eval_loss_after"] < figs["eval_loss_before"]
    assert figs["useful_tokens_per_second"] <= figs["tokens_per_second"]
    # the estimate is 16 bytes a parameter before activations, and the measurement is within a factor of 2
    assert figs["estimate_static_bytes"] == pytest.approx(16 * figs["n_params"])
    assert 0.5 < figs["measured_after_step_bytes"] / (12 * figs["n_params"]) < 2
    assert 0.5 < figs["measured_step_peak_bytes"] / figs["estimate_step_bytes"] < 2
    assert figs["gib_7b"] > 80 and figs["gib_70b"] > 10 * figs["gib_7b"] * 0.99
    assert figs["padding_waste_grouped"] <= figs["padding_waste_shuffled"] <= figs["padding_waste_fixed"]
    assert figs["model_dir"].endswith("full_ft")
