"""The reference results a learner reads before running: every lab's intro block matches the committed JSON."""

import importlib.util
import json
from pathlib import Path

import pytest

from helpers import record

REPO = Path(__file__).resolve().parent.parent
LABS = sorted((REPO / "labs").glob("[0-9][0-9]_*.ipynb"))


def _script():
    spec = importlib.util.spec_from_file_location("results_script", REPO / "scripts" / "results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not (REPO / "results" / "run.json").exists(), reason="no reference run committed yet")
@pytest.mark.parametrize("lab", LABS, ids=[lab.stem for lab in LABS])
def test_each_intro_shows_the_committed_reference_figures(lab):
    script = _script()
    intro = "".join(json.loads(lab.read_text())["cells"][0]["source"])
    assert script.block(lab.stem) in intro, f"{lab.name}: rerun `make results RUN=runs/<run>` (the block is stale)"
    plot = script.MAIN_PLOT.get(lab.stem)
    if plot:
        assert (REPO / "results" / plot).exists()


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
