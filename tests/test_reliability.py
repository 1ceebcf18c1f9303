"""Tests that try to break things: killed writes, repeated runs, random rows, bad settings."""

import json
import signal
import subprocess
import sys
import textwrap

import nbformat
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import config, data, record, runner, train
from helpers.tokenizing import IGNORE, Truncation, build


def test_killed_write_leaves_the_previous_file_intact(tmp_path):
    target = tmp_path / "figures.json"
    record.write_atomic(target, json.dumps({"v": 1}))
    script = textwrap.dedent(f"""
        import os, tempfile, time
        from helpers import record
        real = os.fsync
        def slow(fd):
            print("writing", flush=True); time.sleep(30); real(fd)
        os.fsync = slow
        record.write_atomic({str(target)!r}, "x" * 10_000_000)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"  # mid-write
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert json.loads(target.read_text()) == {"v": 1}


def test_record_refuses_non_finite_and_empty():
    with pytest.raises(ValueError, match="non-finite"):
        record.record("x", loss=float("nan"))
    with pytest.raises(ValueError, match="at least one figure"):
        record.record("x")


def test_figures_gather_where_measured_and_save_once(tmp_path, monkeypatch):
    monkeypatch.setenv(record.RUN_DIR_ENV, str(tmp_path))
    figures = record.Figures("99_lab", preset="smoke")
    figures.add(loss=np.float32(1.5), comparisons=[{"name": "a", "diff": 1.0}, {"name": "b", "diff": 2.0}])
    figures.add(loss=1.25, comparisons=[{"name": "a", "diff": 3.0}])  # a cell run again replaces its figures
    with pytest.raises(ValueError, match="non-finite"):  # refused in the cell that measured it, not at the end
        figures.add(rouge1=float("nan"))
    figures.save()
    saved = record.load("99_lab")
    assert saved["loss"] == 1.25 and type(saved["loss"]) is float and "rouge1" not in saved
    assert [(c["name"], c["diff"]) for c in saved["comparisons"]] == [("b", 2.0), ("a", 3.0)]
    assert saved["preset"] == "smoke" and saved["precision"] in ("fp32", "bf16", "fp16")


def test_run_folders_are_never_reused(tmp_path):
    first = runner.new_run_dir(tmp_path)
    (first / "00_setup.json").write_text("{}")
    second = runner.new_run_dir(tmp_path)
    assert first != second and (first / "00_setup.json").exists()


def test_runner_rejects_unknown_preset_and_lab():
    with pytest.raises(ValueError, match="pocket"):
        runner.main(["--preset", "giant"])
    with pytest.raises(ValueError, match="no lab matches"):
        runner.lab_notebooks(["99"])


def test_failing_lab_is_named_and_earlier_results_stay(tmp_path, monkeypatch):
    labs = tmp_path / "labs"
    labs.mkdir()
    for name, src in (("00_ok", "x = 1"), ("01_bad", "raise RuntimeError('boom')")):
        nb = nbformat.v4.new_notebook()
        params = nbformat.v4.new_code_cell('preset = "pocket"')
        params.metadata["tags"] = ["parameters"]
        nb.cells = [params, nbformat.v4.new_code_cell(src + "\nfrom helpers import record\nrecord.record(" + repr(name) + ", x=1)")]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, labs / f"{name}.ipynb")
    monkeypatch.setattr(runner, "LABS", labs)
    monkeypatch.setattr(runner, "REPO", tmp_path)
    orig = runner.new_run_dir
    monkeypatch.setattr(runner, "new_run_dir", lambda: orig(tmp_path / "runs"))
    assert runner.main(["--preset", "smoke"]) == 1
    run = next((tmp_path / "runs").iterdir())
    assert (run / "00_ok.json").exists()
    summary = (run / "summary.md").read_text()
    assert "01_bad" in summary and "RuntimeError" in summary and "boom" in summary


rows = st.fixed_dictionaries({
    "id": st.one_of(st.text(max_size=5), st.integers(), st.none()),
    "dialogue": st.one_of(st.text(max_size=200), st.integers(), st.none()),
    "summary": st.one_of(st.text(max_size=50), st.lists(st.text(max_size=3), max_size=2)),
    "topic": st.text(max_size=10),
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=rows)
def test_loader_accepts_good_rows_and_names_the_field_of_bad_ones(tmp_path, row):
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    good = (all(isinstance(row[k], str) for k in ("id", "dialogue", "summary", "topic"))
            and row["dialogue"].strip() and row["summary"].strip())
    if good:
        assert data.load_dialogsum("pocket", "train", folder=tmp_path)[0]["dialogue"] == row["dialogue"]
    else:
        with pytest.raises(data.DataError, match=r"line 1: (field|missing)"):
            data.load_dialogsum("pocket", "train", folder=tmp_path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prompt=st.text(min_size=1, max_size=400), completion=st.text(min_size=1, max_size=200),
       max_source=st.integers(8, 64), max_target=st.integers(2, 32))
def test_tokenizer_path_never_drops_silently(tokenizer, prompt, completion, max_source, max_target):
    report = Truncation()
    ex = build(tokenizer, prompt, completion, "causal", max_source, max_target, report)
    n_prompt = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    n_completion = len(tokenizer(completion, add_special_tokens=False)["input_ids"]) + 1
    assert report.prompts_cut == int(n_prompt > max_source)
    assert report.completions_cut == int(n_completion > max_target)
    labelled = [t for t in ex["labels"] if t != IGNORE]
    assert len(labelled) == min(n_completion, max_target)
    assert len(ex["input_ids"]) == len(ex["labels"]) <= max_source + max_target


def test_dialogue_far_longer_than_the_window_is_reported(tokenizer):
    report = Truncation()
    build(tokenizer, "#Person1#: hello there. " * 3000, "A greeting.", "causal", 384, 96, report)
    assert report.prompts_cut == 1 and report.prompt_tokens_dropped > 10_000


@pytest.mark.parametrize("knob", ["eval_examples", "batch_size", "lora_rank"])
def test_zero_or_negative_sizes_name_the_parameter(knob):
    for bad in (0, -2):
        with pytest.raises(ValueError, match=knob):
            config.get("pocket", **{knob: bad})


@pytest.mark.parametrize("field,value", [("batch_size", 0), ("learning_rate", -1e-4), ("grad_accum", 0),
                                         ("epochs", 0), ("max_steps", -5), ("save_every", -1),
                                         ("warmup_ratio", 1.5), ("scheduler", "exp"), ("precision", "fp8")])
def test_bad_training_settings_name_the_parameter(tmp_path, field, value):
    with pytest.raises(ValueError, match=field):
        train.TrainConfig(output_dir=tmp_path, **{field: value}).validate()


def test_a_stopped_run_resumes_in_its_folder_and_only_with_its_own_settings(tmp_path):
    run = tmp_path / "20260101T000000Z"
    run.mkdir()
    with pytest.raises(SystemExit, match="labs_done.json"):
        runner.resumed(run, "pocket", "fp32")
    (run / "summary.md").write_text("# Workbook run\n\nPreset: `pocket`; precision: `fp32`; device: cpu\n")
    (run / runner.DONE_FILE).write_text(json.dumps([{"lab": "00_setup", "status": "ok", "seconds": 17.0}]))
    folder, done = runner.resumed(run, "pocket", "fp32")
    assert folder == run.resolve() and [r["lab"] for r in done] == ["00_setup"]
    with pytest.raises(SystemExit, match="other settings"):
        runner.resumed(run, "smoke", "fp32")
    with pytest.raises(SystemExit, match="other settings"):
        runner.resumed(run, "pocket", "bf16")
