"""helpers.hosting: the preset hint for the hardware here, and the Colab run folder on Drive."""

import os
import sys
import types

import pytest

from helpers import hosting, record

T4, A100, SMALL = ("Tesla T4", 14.7), ("NVIDIA A100-SXM4-40GB", 39.4), ("NVIDIA GeForce GTX 1050", 3.9)


@pytest.fixture
def colab(monkeypatch):
    """Pretend to run inside a Colab kernel."""
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))


def test_a_gpu_suggests_the_course_preset_instead_of_pocket():
    hint = hosting.suggest_preset("pocket", T4)
    assert hint and "'course'" in hint and "Tesla T4" in hint and 'preset = "course"' in hint
    assert "'modern'" not in hint, "SmolLM2-360M at the modern preset's batch needs more than a T4's memory"


def test_a_small_gpu_suggests_nothing_it_cannot_hold():
    need = hosting.needed_gib(hosting.config.get("course"))
    assert need > SMALL[1]
    assert hosting.suggest_preset("pocket", SMALL) is None
    low = hosting.suggest_preset("course", SMALL)
    assert low and "batch_size" in low and f"{need:.0f} GiB" in low


def test_a_bigger_gpu_suggests_both_gpu_presets():
    hint = hosting.suggest_preset("smoke", A100)
    assert "'course' (" in hint and " or 'modern' (" in hint


def test_no_gpu_warns_about_hub_presets_and_is_silent_for_pocket():
    assert hosting.suggest_preset("pocket", None) is None
    hint = hosting.suggest_preset("course", None)
    assert hint and "No GPU" in hint and 'preset = "pocket"' in hint


def test_a_gpu_preset_on_a_big_enough_gpu_needs_no_hint():
    assert hosting.suggest_preset("course", A100) is None


def test_run_folder_note_only_on_colab(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert hosting.run_dir_note(tmp_path) is None


def test_colab_with_drive_mounted_keeps_the_run_folder_on_drive(colab, tmp_path, monkeypatch):
    monkeypatch.delenv(record.RUN_DIR_ENV, raising=False)
    note = hosting.run_dir_note(tmp_path)
    expected = tmp_path / hosting.DRIVE_RUN_DIR.relative_to(hosting.DRIVE)
    assert "Google Drive" in note and str(expected) in note
    assert record.run_dir() == expected  # record() and artifacts now land on Drive


def test_colab_without_drive_says_how_to_carry_results(colab, tmp_path, monkeypatch):
    monkeypatch.delenv(record.RUN_DIR_ENV, raising=False)
    note = hosting.run_dir_note(tmp_path / "not-mounted")
    assert "Mount Drive" in note and record.RUN_DIR_ENV not in os.environ


def test_an_explicit_run_folder_is_kept(colab, tmp_path, monkeypatch):
    monkeypatch.setenv(record.RUN_DIR_ENV, str(tmp_path / "mine"))
    assert str(tmp_path / "mine") in hosting.run_dir_note(tmp_path)
    assert record.run_dir() == tmp_path / "mine"


def test_advise_prints_what_applies(capsys, monkeypatch):
    monkeypatch.setattr(hosting, "gpu", lambda: T4)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    notes = hosting.advise("pocket")
    assert len(notes) == 1 and notes[0] in capsys.readouterr().out
