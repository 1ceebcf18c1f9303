import pytest

from conftest import LAB_PRESETS, run_lab


@pytest.mark.lab
@pytest.mark.parametrize("preset", LAB_PRESETS)
def test_lab_00_setup(lab_runs, preset):
    figs = run_lab("00_setup", lab_runs, preset)
    assert figs["preset"] == preset
    assert figs["reload_seconds"] > 0  # measured; that it reads the cache is tested in test_models, timings in the bench
    assert figs["answer_chars"] > 0
    assert 0.0 <= figs["rouge1"] <= 1.0
    if preset == "smoke":
        assert 130e6 < figs["n_params"] < 140e6
        assert figs["pad_is_eos"] is True
    else:  # T5's <pad> (0) and </s> (1) are different tokens
        assert figs["n_params"] < 1e6 and figs["pad_is_eos"] is False
