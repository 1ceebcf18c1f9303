from helpers import datastats


def test_datasheet_statistics_match_the_data():
    assert datastats.sheet_block() == datastats.block(datastats.collect()), (
        "datasets/README.md is out of date: run `python -m helpers.datastats`")


def test_datasheet_probe_inventory_matches_the_probes():
    block = datastats.sheet_block(begin=datastats.PROBESET_BEGIN, end=datastats.PROBESET_END)
    assert block == datastats.probeset_block(), "datasets/README.md is out of date: run `python -m helpers.datastats`"


def test_every_compared_statistic_names_dialogsum_s_figure():
    rows = datastats.collect()["compare"]
    assert [name for name, *_ in rows] == list(datastats.DIALOGSUM)
    assert all(ours and theirs and band for _, ours, theirs, band in rows)


def test_histograms_exist():
    for key in ("dialogue_words", "summary_words", "turns"):
        assert (datastats.POCKET / f"hist_{key}.png").stat().st_size > 1000
