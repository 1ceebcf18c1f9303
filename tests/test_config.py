import dataclasses

import pytest

from helpers import config


def test_presets_exist_and_validate():
    for name in ("pocket", "smoke", "course", "modern"):
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
