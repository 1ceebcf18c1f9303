"""The reference results a learner reads before running: every lab's intro block matches the committed JSON."""

import importlib.util
import json
from pathlib import Path

import pytest

from helpers import record

REPO = Path(__file__).resolve().parent.parent
LABS = sorted((REPO / "labs").glob("[0-9][0-9]_*.ipynb"))


def _load(name):
    """A script of scripts/ as a module."""
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _script():
    return _load("results")


@pytest.mark.skipif(not (REPO / "results" / "run.json").exists(), reason="no reference run committed yet")
@pytest.mark.parametrize("lab", LABS, ids=[lab.stem for lab in LABS])
def test_each_intro_shows_the_committed_reference_figures(lab):
    script = _script()
    intro = "".join(json.loads(lab.read_text())["cells"][0]["source"])
    assert script.block(lab.stem) in intro, f"{lab.name}: rerun `make results RUN=runs/<run>` (the block is stale)"
    plot = script.MAIN_PLOT.get(lab.stem)
    if plot:
        assert (REPO / "results" / plot).exists()


@pytest.mark.skipif(not (REPO / "results" / "run.json").exists(), reason="no reference run committed yet")
def test_the_reference_run_keeps_every_labs_wall_time_for_the_benchmark():
    """results/timings.json (what `make bench` reads without a run of its own) covers every lab of the run."""
    times = json.loads((REPO / "results" / "timings.json").read_text())
    assert set(times) == {lab.stem for lab in LABS} and all(t > 0 for t in times.values())
    run = json.loads((REPO / "results" / "run.json").read_text())["run"]
    assert f"# Workbook run {run}" in (REPO / "results" / "summary.md").read_text()


def test_the_reference_table_shows_each_comparison_with_its_interval_and_verdict():
    figures = {"preset": "pocket", "precision": "fp32", "n_test": 100, "rouge1_before": 0.3, "rouge1_after": 0.45,
               "comparisons": [{"name": "rouge1_original_vs_full", "metric": "rouge1", "n": 100, "a": 0.3, "b": 0.45,
                                "diff": 0.15, "low": 0.12, "high": 0.18, "verdict": "full higher than original",
                                "a_label": "original", "b_label": "full"}]}
    text = record.reference_markdown("04_rouge_before_and_after", figures, "20260101T000000Z")
    assert "| ROUGE-1 before / after | 0.300 / 0.450 |" in text
    assert "| rouge1_original_vs_full | 100 | original 30.0 | full 45.0 | +15.0 [+12.0, +18.0] | full higher than original |" in text
    assert "20260101T000000Z" in text


def test_record_prints_the_learners_figures_beside_the_reference(tmp_path, monkeypatch):
    ref = {"preset": "pocket", "n_test": 156, "rouge1_before": 0.3, "rouge1_after": 0.47, "comparisons": []}
    (tmp_path / "04_rouge_before_and_after.json").write_text(json.dumps(ref))
    monkeypatch.setattr(record, "REFERENCE", tmp_path)
    mine = {"preset": "smoke", "n_test": 8, "rouge1_before": 0.2, "rouge1_after": 0.25}
    table = record.beside_reference("04_rouge_before_and_after", mine)
    assert "| ROUGE-1 before / after | 0.200 / 0.250 | 0.300 / 0.470 |" in table
    assert record.beside_reference("02_building_instruction_datasets", mine) is None  # no reference for it here


def test_runtime_tables_take_each_cells_time_by_id_and_refuse_a_cell_the_run_did_not_execute(tmp_path):
    runtimes = _load("runtimes")
    table = {"cell_type": "markdown", "id": "t", "metadata": {}, "source": [runtimes.NEXT_CELL + " (old)"]}
    code = {"cell_type": "code", "id": "long", "metadata": {}, "source": ["train()  # edited since the run"],
            "outputs": [], "execution_count": None}
    lab = tmp_path / "09_x.ipynb"
    lab.write_text(json.dumps({"cells": [table, code], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    run = tmp_path / "run"
    run.mkdir()
    executed = dict(code, source=["train()"], metadata={"papermill": {"duration": 125.0}})
    (run / "09_x.ipynb").write_text(json.dumps({"cells": [executed], "metadata": {}}))
    assert runtimes.update(lab, run, None) == 1
    assert "| `pocket` | 2.1 min |" in "".join(json.loads(lab.read_text())["cells"][0]["source"])
    (run / "09_x.ipynb").write_text(json.dumps({"cells": [dict(executed, id="other")], "metadata": {}}))
    with pytest.raises(KeyError, match="was not executed"):
        runtimes.update(lab, run, None)
