import pytest

from conftest import run_lab


@pytest.mark.lab
def test_lab_00_setup(lab_runs):
    figs = run_lab("00_setup", lab_runs)
    assert figs["preset"] == "smoke"
    assert 130e6 < figs["n_params"] < 140e6
    assert figs["reload_seconds"] > 0  # measured; that it reads the cache is tested in test_models, timings in the bench
    assert figs["pad_is_eos"] is True
    assert figs["answer_chars"] > 0
    assert 0.0 <= figs["rouge1"] <= 1.0
