import dataclasses

import pytest

from helpers import config


def test_presets_exist_and_validate():
    for name in ("pocket", "smoke", "course", "modern", "tiny-seq2seq"):
        p = config.get(name)
        assert p.name == name
    assert config.get().name == "pocket"


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(ValueError, match="pocket.*smoke.*course.*modern"):
        config.get("huge")


@pytest.mark.parametrize("field,value", [("batch_size", 0), ("eval_examples", -3), ("learning_rate", 0.0),
                                         ("train_examples", -1), ("max_target_tokens", 0)])
def test_bad_sizes_name_the_parameter(field, value):
    with pytest.raises(ValueError, match=field):
        config.get("smoke", **{field: value})


def test_presets_are_built_by_keyword_only():
    values = dataclasses.asdict(config.PRESETS["smoke"])
    assert config.Preset(**values) == config.PRESETS["smoke"]
    with pytest.raises(TypeError, match="positional"):
        config.Preset(*values.values())


def test_unknown_override_is_refused():
    with pytest.raises(ValueError, match="batchsize"):
        config.get("smoke", batchsize=4)


def test_budget_exceeding_context_is_refused():
    with pytest.raises(ValueError, match="context_limit"):
        config.get("course", max_source_tokens=600)


def test_table_lists_every_preset():
    t = config.table()
    assert all(name in t for name in config.PRESETS)


def test_every_lab_has_knobs_of_its_own_for_every_preset():
    for lab, table in config.LAB_KNOBS.items():
        assert set(table) == set(config.PRESETS), lab
        names = {name: set(knobs) for name, knobs in table.items()}
        assert all(n == names["pocket"] for n in names.values()), f"lab {lab}: presets name different knobs"


def test_a_preset_without_knobs_fails_loudly(monkeypatch):
    bare = dataclasses.replace(config.PRESETS["pocket"], name="bare")
    monkeypatch.setitem(config.PRESETS, "bare", bare)
    with pytest.raises(ValueError, match="no knobs for preset 'bare'.*LAB_KNOBS"):
        config.knobs("03", bare)


def test_course_knobs_are_the_courses():
    """Full DialogSum for full fine-tuning at the course's 1e-5; LoRA r=32, alpha=32 at 1e-3."""
    course = config.get("course")
    lab03 = config.knobs("03", course)
    assert lab03["train_examples"] == 0 and lab03["learning_rate"] == 1e-5 and lab03["batch_size"] == 8
    assert 1e-5 in lab03["lr_grid"]  # the search is centred on the course's rate
    k05, k06 = config.knobs("05", course), config.knobs("06", course)
    assert "lora_learning_rate" not in k05 and 1e-3 in k06["lora_lr_grid"]  # searched, on a grid holding the course's
    for k in (k05, k06):
        assert k["lora_scaling"] * course.lora_rank == 32 == course.lora_rank
    assert config.knobs("04", course)["max_new_tokens"] == 200 and config.knobs("04", course)["eval_examples"] == 0


@pytest.mark.parametrize("preset", list(config.PRESETS))
def test_lora_gets_full_fine_tunings_tuning_effort_and_later_labs_reuse_lab_04s_summaries(preset):
    lab03, lab04 = config.knobs("03", preset), config.knobs("04", preset)
    assert len(config.knobs("06", preset)["lora_lr_grid"]) == len(lab03["lr_grid"]) >= 2
    # lab 05 trains lab 06's adapter and searches its rate on lab 06's grid: one search serves both labs
    assert config.knobs("05", preset)["lora_scaling"] == config.knobs("06", preset)["lora_scaling"]
    for lab in ("05", "06"):  # the same generation length, so the summaries lab 04 stored are reused
        k = config.knobs(lab, preset)
        assert k["max_new_tokens"] == lab04["max_new_tokens"]
        assert lab04["eval_examples"] == 0 or k["eval_examples"] <= lab04["eval_examples"]


def test_tiny_seq2seq_is_an_encoder_decoder_with_flan_t5s_window():
    p = config.get("tiny-seq2seq")
    assert p.model_kind == "seq2seq" and p.context_limit == 512 and p.data == "pocket"
    assert p.max_source_tokens <= p.context_limit
