import pytest

from conftest import LAB_PRESETS, run_lab


@pytest.mark.lab
@pytest.mark.parametrize("preset", LAB_PRESETS)
def test_lab_05_catastrophic_forgetting(lab_runs, preset):
    figs = run_lab("05_catastrophic_forgetting", lab_runs, preset)
    assert figs["preset"] == preset
    models = {"original", "full (summaries only)", "multi-task", "LoRA"}
    assert models <= set(figs["probe_accuracy"]) and models <= set(figs["rouge1"])
    assert set(figs["probe_accuracy"]) == set(figs["rouge1"]) == set(figs["probe_per_category"])
    for name, acc in figs["probe_accuracy"].items():
        assert 0.0 <= acc <= 1.0 and 0.0 <= figs["rouge1"][name] <= 1.0
        cats = figs["probe_per_category"][name]
        assert len(cats) >= 2 and all(0.0 <= v <= 1.0 for v in cats.values())
    assert figs["n_probes"] > 0
    # the drop is computed from the recorded accuracies, and the forgetting setting runs exactly when it is too small
    drop = 100 * (figs["probe_accuracy"]["original"] - figs["probe_accuracy"]["full (summaries only)"])
    assert figs["drop_full_points"] == pytest.approx(drop, abs=1e-6)
    assert figs["forgetting_shows"] == (drop >= 5.0)
    assert ("full, aggressive" in figs["probe_accuracy"]) == (not figs["forgetting_shows"])
    assert (figs["demo_drop_points"] is None) == figs["forgetting_shows"]
    mix = figs["multitask_mix"]
    assert mix["summarize"] > 0 and mix["replay"] > 0 and mix["topic"] + mix["write_dialogue"] > 0
    assert figs["probe_seconds"] > 0
