import json

import pytest

from conftest import LAB_PRESETS, run_lab


@pytest.mark.lab
@pytest.mark.parametrize("preset", LAB_PRESETS)
def test_lab_02_building_instruction_datasets(lab_runs, preset):
    figs = run_lab("02_building_instruction_datasets", lab_runs, preset)
    kind = "causal" if preset == "smoke" else "seq2seq"
    assert figs["preset"] == preset and figs["kind"] == kind
    # the tokenizer's own special tokens: SmolLM2 pads with its eos (id 2), T5 with <pad> (0) and ends with </s> (1)
    assert (figs["pad_token_id"], figs["eos_token_id"]) == ((2, 2) if preset == "smoke" else (0, 1))
    assert figs["n_templates"]["summarize"] >= 8 and figs["n_templates"]["topic"] >= 2
    assert figs["n_templates"]["write_dialogue"] >= 2
    assert len(set(figs["n_pairs"].values())) == 1 and figs["n_pairs"]["summarize"] > 0
    # the loss mask covers exactly the completion and its eos (checked on every row; for seq2seq the encoder input
    # ends with eos too); padding is outside it (for SmolLM2 it has the id of eos)
    assert figs["mask_in_loss"] == figs["mask_completion_tokens"] > 1
    assert figs["mask_pad_positions"] > 0
    assert figs["mask_rows_checked"] > 0 and figs["mask_mismatches"] == 0
    # truncation is reported, and completions are never cut (policy: drop the row, counted)
    assert all(v == 0 for v in figs["completions_cut"].values())
    assert figs["rows_dropped"]["write_dialogue"] > 0  # dialogues are longer than the completion budget
    assert figs["completion_tokens_median"]["topic"] < figs["completion_tokens_median"]["summarize"]
    # dynamic padding computes fewer tokens than fixed padding, and never fewer than the useful ones
    assert figs["tokens_useful"] <= figs["tokens_grouped"] <= figs["tokens_dynamic"] < figs["tokens_fixed"]
    assert 0.0 < figs["padding_saved"] < 1.0
    assert figs["forward_seconds_dynamic"] > 0 and figs["forward_seconds_fixed"] > 0
    assert figs["leaks"] == 0 and figs["train_rows_removed"] == 0
    assert figs["reloaded_equal"] is True and set(figs["saved_rows"]) == {"train", "validation", "test"}
    saved = lab_runs / preset / "artifacts" / preset / "tokenized_dialogsum"
    assert (saved / "dataset_dict.json").exists()
    assert json.loads((saved / "artifact.json").read_text())["model_kind"] == kind
