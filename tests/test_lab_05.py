import pytest

from helpers import config

from conftest import LAB_PRESETS, check_comparisons, run_lab


@pytest.mark.lab
@pytest.mark.parametrize("preset", LAB_PRESETS)
def test_lab_05_catastrophic_forgetting(lab_runs, preset):
    figs = run_lab("05_catastrophic_forgetting", lab_runs, preset)
    assert figs["preset"] == preset
    models = {"original", "full, lab 03", "full, summaries only", "multi-task", "LoRA"}
    assert models <= set(figs["probe_accuracy"]) and models <= set(figs["rouge1"])
    assert set(figs["probe_accuracy"]) == set(figs["rouge1"]) == set(figs["probe_per_category"])
    for name, acc in figs["probe_accuracy"].items():
        assert 0.0 <= acc <= 1.0 and 0.0 <= figs["rouge1"][name] <= 1.0
        cats = figs["probe_per_category"][name]
        assert len(cats) >= 2 and all(0.0 <= v <= 1.0 for v in cats.values())
    # every method against the original, in one setting, on the same probes and dialogues
    names = [f"{m}_original_vs_{k}" for m in ("probes", "rouge1") for k in ("full", "multitask", "lora")]
    found = check_comparisons(figs, names + ["probes_full_vs_multitask", "probes_full_vs_lora"])
    for k, model in (("full", "full, summaries only"), ("multitask", "multi-task"), ("lora", "LoRA")):
        probe = found[f"probes_original_vs_{k}"]
        assert probe["n"] == figs["n_probes"] and found[f"rouge1_original_vs_{k}"]["n"] == figs["eval_examples"]
        assert probe["b"] == pytest.approx(figs["probe_accuracy"][model], abs=1e-9)
        assert 0 <= probe["p"] <= 1 and probe["lost"] + probe["gained"] <= probe["n"]
    # the setting follows lab 03's measured forgetting: the aggressive one exactly when its interval reaches zero
    default = found["probes_original_vs_full_default"]
    assert figs["forgetting_by_default"] == (default["high"] < 0)
    assert figs["forgetting_setting"] == ("default" if figs["forgetting_by_default"] else "aggressive")
    assert {c["model"] for c in figs["per_category"]} == {"full, summaries only", "multi-task", "LoRA"}
    mix = figs["multitask_mix"]
    assert mix["summarize"] > 0 and mix["replay"] > 0 and mix["topic"] + mix["write_dialogue"] > 0
    assert figs["probe_seconds"] > 0
    # LoRA's rate was chosen on validation, as full fine-tuning's was in lab 03, from a grid as large as lab 03's
    search = figs["lora_lr_search"]
    assert len(search) == len(config.knobs("03", preset)["lr_grid"]) >= 2
    factor = 1.0 if figs["forgetting_setting"] == "default" else config.knobs("05", preset)["demo_factor"]
    best = min(search, key=lambda r: r["eval_loss"])["learning_rate"]
    assert figs["learning_rate_lora"] == pytest.approx(best * factor)
