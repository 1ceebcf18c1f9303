"""The benchmark code paths at tiny sizes (a random tiny model): every section, ratio and target is written."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ is not part of the installed package
from bench import run as bench  # noqa: E402


@pytest.fixture
def one_thread(monkeypatch):
    """One thread here and in the child processes: fast and steady on a CPU shared with other jobs."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _finite_numbers(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _finite_numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _finite_numbers(v)
    elif isinstance(obj, float):
        yield obj


def test_every_benchmark_writes_its_ratios(tmp_path, one_thread, embedded):
    runs = tmp_path / "runs"
    for name, secs in (("20250101T000000Z", {"00_setup": 5.0}), ("20250102T000000Z", {"00_setup": 6.0, "01_x": 60.0})):
        (runs / name).mkdir(parents=True)
        (runs / name / "timings.json").write_text(json.dumps(secs))
    (runs / "20250102T000000Z" / "summary.md").write_text("# Workbook run\n\nPreset: `pocket`\n")
    (runs / "20250103T000000Z").mkdir()  # a newer smoke run: the pocket one is still the one shown
    (runs / "20250103T000000Z" / "timings.json").write_text(json.dumps({"00_setup": 1.0}))
    (runs / "20250103T000000Z" / "summary.md").write_text("Preset: `smoke`\n")
    out = tmp_path / "out"
    results = bench.main(["--size", "tiny", "--in-process", "--out", str(out), "--runs", str(runs),
                          "--reference", str(tmp_path / "no-reference")])

    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["targets"] == results["targets"]
    assert all(math.isfinite(x) for x in _finite_numbers(on_disk))
    tr = on_disk["training"]
    # same examples on both sides: the same useful tokens; the course recipe pads every row to the fixed length
    assert tr["same_useful_tokens"] and tr["course"]["useful_tokens"] == tr["ours"]["useful_tokens"] > 0
    assert tr["course"]["tokens"] == tr["course"]["examples"] * bench.SIZES["tiny"].fixed_length
    assert tr["ours"]["tokens"] <= tr["course"]["tokens"]
    for key in ("wall_time_speedup", "tokens_per_s", "useful_tokens_per_s", "peak_memory"):
        assert tr["ratios"][key] > 0
    assert 0 < on_disk["compute"]["share_of_matmul_peak"]
    assert on_disk["compute"]["matmul"]["best_flops"] >= on_disk["compute"]["matmul"]["median_flops"] > 0
    gen = on_disk["generation"]
    assert gen["examples"] == bench.SIZES["tiny"].gen_examples and 0 <= gen["identical_outputs"] <= gen["examples"]
    assert gen["ratios"]["examples_per_s"] > 0 and gen["ratios"]["prefill"] > 0 and gen["ratios"]["decoding"] > 0
    assert 0 < gen["prefill"]["single_seconds"] < gen["single"]["seconds"]  # one new token costs less than many
    mem = on_disk["memory"]
    assert mem["lora"]["trainable_params"] < mem["full"]["trainable_params"]
    assert mem["ratios"]["lora_over_full_peak"] > 0
    assert 0 < mem["lora"]["estimate"]["bytes"] < mem["full"]["estimate"]["bytes"]
    assert mem["ratios"]["measured_over_estimate_full"] > 0 and 0 < mem["ratios"]["estimate_lora_over_full"] < 1
    assert on_disk["labs"]["run"] == "20250102T000000Z" and on_disk["labs"]["total_s"] == 66.0
    assert on_disk["labs"]["preset"] == "pocket"
    assert [t["key"] for t in on_disk["targets"]] == [t[0] for t in bench.TARGETS]
    assert all(t["measured"] is not None and t["met"] in (True, False) for t in on_disk["targets"])
    for t in on_disk["targets"]:  # every missed target says why, from the run's own measurements
        assert (bench.why_missed(on_disk, t["key"]) != "") if t["met"] is False else True, t["key"]
    md = (out / "results.md").read_text()
    assert bench.targets_table(on_disk) in md
    for t in bench.TARGETS:
        assert t[3] in md
    for section in ("1. Training", "2. Compute", "3. Evaluation", "4. Memory", "5. The workbook"):
        assert section in md


def test_a_side_runs_in_its_own_process(one_thread, embedded):
    side = bench.launch("lora", bench.SIZES["tiny"], isolate=True)
    assert side["side"] == "lora" and side["steps"] >= 1
    assert 0 < side["trainable_params"] < side["params"]
    assert side["peak_bytes"] >= side["rss_before"] > 0


def test_labs_benchmark_says_what_to_run_when_there_is_no_run(tmp_path):
    assert "make labs" in bench.bench_labs(tmp_path / "none", tmp_path / "no-reference")["note"]


def test_labs_benchmark_reads_the_reference_run_when_runs_holds_no_complete_one(tmp_path):
    labs = sorted(p.stem for p in (bench.REPO / "labs").glob("[0-9][0-9]_*.ipynb"))
    ref = tmp_path / "results"
    ref.mkdir()
    (ref / "timings.json").write_text(json.dumps({lab: 60.0 for lab in labs}))
    (ref / "run.json").write_text(json.dumps({"run": "20250105T000000Z"}))
    (ref / "summary.md").write_text("# Workbook run\n\nPreset: `pocket`; precision: `fp32`; device: cpu\n")
    runs = tmp_path / "runs"
    (runs / "20250106T000000Z").mkdir(parents=True)  # newer, but only one lab
    (runs / "20250106T000000Z" / "timings.json").write_text(json.dumps({labs[0]: 5.0}))
    (runs / "20250106T000000Z" / "summary.md").write_text("Preset: `pocket`\n")
    got = bench.bench_labs(runs, ref)
    assert got["run"] == "20250105T000000Z" and got["all_labs"] and got["precision"] == "fp32"
    assert got["total_minutes"] == len(labs) and got["source"].endswith("timings.json")
    (runs / "20250106T000000Z" / "timings.json").write_text(json.dumps({lab: 30.0 for lab in labs}))
    got = bench.bench_labs(runs, ref)  # a complete run here wins over the reference
    assert got["run"] == "20250106T000000Z" and got["total_minutes"] == len(labs) / 2


def test_the_readme_shows_the_committed_benchmark_targets():
    """The README's targets table is the one bench/results.json makes, why-column included."""
    readme = bench.README.read_text()
    committed = json.loads((bench.OUT / "results.json").read_text())
    assert bench.readme_with_targets(readme, committed) == readme
    assert [t["key"] for t in committed["targets"]] == [t[0] for t in bench.TARGETS]  # written with today's targets
    with pytest.raises(ValueError, match="bench-targets"):
        bench.readme_with_targets("# no block here\n", committed)


def test_bad_sizes_and_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="train_examples"):
        bench.Sizes(train_examples=0).validate()
    with pytest.raises(ValueError, match="unknown benchmark"):
        bench.main(["--size", "tiny", "--only", "speed", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="side must be"):
        bench.worker("fast", bench.SIZES["tiny"])


def test_lora_parameter_count_matches_peft(embedded):
    from helpers import models

    sizes = bench.SIZES["tiny"]
    model = models.tiny("causal", seed=0)[0]
    expected = bench.lora_params(model, sizes)
    assert models.n_params(bench._lora(model, sizes), trainable_only=True) == expected > 0
