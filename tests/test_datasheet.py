from helpers import datastats


def test_datasheet_statistics_match_the_data():
    assert datastats.sheet_block() == datastats.block(datastats.collect()), (
        "datasets/README.md is out of date: run `python -m helpers.datastats`")


def test_histograms_exist():
    for key in ("dialogue_words", "summary_words", "turns"):
        assert (datastats.POCKET / f"hist_{key}.png").stat().st_size > 1000
