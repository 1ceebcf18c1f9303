"""Artifacts handed from lab to lab are kept per preset, and refused for another model or model kind."""

import json

import pytest

from helpers import config, record


def test_artifacts_are_kept_per_preset(_run_dir):
    smoke, tiny = record.artifacts_dir(config.get("smoke")), record.artifacts_dir("tiny-seq2seq")
    assert smoke == _run_dir / "artifacts" / "smoke" and tiny == _run_dir / "artifacts" / "tiny-seq2seq"
    assert smoke.is_dir() and tiny.is_dir()
    with pytest.raises(ValueError, match="preset"):
        record.artifacts_dir(None)


def test_an_artifact_is_ready_only_when_made_for_this_model(tmp_path):
    smoke = config.get("smoke")
    folder = tmp_path / "full_ft"
    assert record.artifact_ready(folder, smoke, "model.safetensors") is False  # nothing yet: the lab makes it
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"")
    record.mark_artifact(folder, smoke)
    assert json.loads((folder / "artifact.json").read_text()) == {"preset": "smoke", "model_kind": "causal",
                                                                    "model": "embedded"}
    assert record.artifact_ready(folder, smoke, "model.safetensors") is True
    assert record.artifact_ready(folder, config.get("pocket"), "model.safetensors") is True  # same model and kind


def test_an_artifact_of_another_kind_is_refused_clearly(tmp_path):
    folder = tmp_path / "full_ft"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"")
    record.mark_artifact(folder, config.get("smoke"))
    with pytest.raises(record.ArtifactMismatch, match="made for causal model 'embedded'.*uses seq2seq model"):
        record.artifact_ready(folder, config.get("tiny-seq2seq"), "model.safetensors")
    (folder / "artifact.json").unlink()
    with pytest.raises(record.ArtifactMismatch, match="no artifact.json"):
        record.artifact_ready(folder, config.get("smoke"), "model.safetensors")


def test_results_are_reused_within_a_run_only_with_the_same_settings(_run_dir):
    smoke, ids, calls = config.get("smoke"), ["a", "b", "c"], []

    def compute():
        calls.append(1)
        return {"prediction": ["x", "y", "z"], "rouge1": [0.1, 0.2, 0.3]}

    first, lab = record.reuse(smoke, "original", {"max_new_tokens": 8}, ids, compute, "04_rouge")
    again, lab_again = record.reuse(smoke, "original", {"max_new_tokens": 8}, ["c", "a"], compute, "05_forgetting")
    assert len(calls) == 1 and lab_again == "04_rouge"
    assert again == {"prediction": ["z", "x"], "rouge1": [0.3, 0.1]}
    record.reuse(smoke, "original", {"max_new_tokens": 16}, ids, compute, "06_peft")  # other settings: recomputed
    assert len(calls) == 2
    with pytest.raises(ValueError, match="one value per id"):
        record.reuse(smoke, "other", {}, ["a", "b"], lambda: {"prediction": ["x"]}, "06_peft")


def test_a_fingerprint_changes_when_the_model_file_changes(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"12")
    first = record.fingerprint(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"123")
    assert record.fingerprint(tmp_path) != first
