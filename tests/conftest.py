"""Shared fixtures: a temporary run folder, the embedded model, and a papermill runner for the labs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# No test reaches the Hugging Face Hub, whether or not this machine has network: the tests of the Hub paths replace
# the loaders. huggingface_hub reads these once, when it is first imported (by a test module, after this file).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parent.parent
LABS = REPO / "labs"


@pytest.fixture(autouse=True)
def _run_dir(tmp_path, monkeypatch):
    """Every test writes its records into its own temporary run folder."""
    monkeypatch.setenv("WORKBOOK_RUN_DIR", str(tmp_path / "run"))
    return tmp_path / "run"


@pytest.fixture(scope="session")
def embedded():
    """(model, tokenizer) of the embedded default; skipped with the install command if it is absent."""
    from helpers import models

    try:
        models.embedded_gguf()
    except models.ModelNotAvailable as e:
        pytest.skip(str(e))
    return models.load("pocket")


@pytest.fixture(scope="session")
def tokenizer(embedded):
    return embedded[1]


@pytest.fixture(scope="session")
def t5_tokenizer():
    """The tiny-seq2seq preset's T5-style tokenizer (<pad>=0, </s>=1, <unk>=2), built once and cached."""
    from transformers import AutoTokenizer

    from helpers import models

    return AutoTokenizer.from_pretrained(models.tiny_seq2seq_folder())


@pytest.fixture(scope="session")
def lab_runs(tmp_path_factory):
    """One shared run folder for the lab tests, so later labs find earlier labs' artifacts."""
    return tmp_path_factory.mktemp("labs")


# The lab tests run every lab with both: the decoder-only smoke preset and the tiny encoder-decoder.
LAB_PRESETS = ["smoke", "tiny-seq2seq"]


def run_lab(name: str, folder: Path, preset: str = "smoke", timeout: int = 600, **parameters) -> dict:
    """Execute labs/<name>.ipynb with ``preset`` in ``folder/<preset>`` and return the figures it recorded."""
    from helpers import runner

    book = LABS / f"{name}.ipynb"
    assert book.exists(), f"{book} is missing"
    run = folder / preset
    run.mkdir(exist_ok=True)
    old = os.environ.get("WORKBOOK_RUN_DIR")
    try:
        runner.execute(book, run, {"preset": preset, **parameters}, timeout=timeout)
    finally:
        if old is not None:
            os.environ["WORKBOOK_RUN_DIR"] = old
    return json.loads((run / f"{name}.json").read_text())


def check_comparisons(figs: dict, names: list[str], min_n: int = 1) -> dict[str, dict]:
    """The lab's recorded ``comparisons`` hold ``names``, each complete and with the verdict its interval allows."""
    from helpers import metrics

    found = {c["name"]: c for c in figs["comparisons"]}
    missing = set(names) - set(found)
    assert not missing, f"comparisons missing: {sorted(missing)}; recorded: {sorted(found)}"
    for c in found.values():
        assert {"name", "metric", "n", "a", "b", "diff", "low", "high", "verdict"} <= set(c)
        assert abs(c["diff"] - (c["b"] - c["a"])) < 1e-9 and c["low"] <= c["diff"] + 1e-12 and c["diff"] <= c["high"] + 1e-12
        assert c["verdict"] == metrics.verdict(c["low"], c["high"], c["b_label"], c["a_label"])
    for name in names:
        assert found[name]["n"] >= min_n, f"{name}: n={found[name]['n']} < {min_n}"
    return found
