import json
import math

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
    # section 9: the pre-training objective against SFT, the same model trained briefly on the same 12 rows
    loss = figs["objective_loss"]
    assert set(loss) == {"base", "pretraining", "sft"} and all(set(v) == {"prompt", "completion"} for v in loss.values())
    assert figs["objective_rows"] == {"train": 12, "validation": 8} and figs["objective_steps"] == 3
    assert all(math.isfinite(x) for v in loss.values() for x in v.values())
    assert all(len(v) == 3 for v in figs["objective_train_loss"].values())
    # each objective lowers the held-out loss of what it trains on
    assert loss["pretraining"]["prompt"] < loss["base"]["prompt"]
    assert loss["sft"]["completion"] < loss["base"]["completion"]
    assert set(figs["objective_summaries"]) == {"pretraining", "sft"}
    if kind == "causal":
        assert figs["objective_pretraining"] == "next-token loss on every token"
        # only the model with the prompt in its loss learns to predict prompts (smoke: about 1.7 against 3.5)
        assert loss["pretraining"]["prompt"] < 0.75 * loss["sft"]["prompt"]
        assert 0 < figs["objective_completion_share"] < 0.5  # the completions are the small part of every-token loss
        assert all(figs["objective_summaries"].values())
    else:  # the encoder input has no next-token loss: T5's self-supervised objective instead
        assert figs["objective_pretraining"] == "span corruption (T5)"
        assert figs["objective_completion_share"] is None
