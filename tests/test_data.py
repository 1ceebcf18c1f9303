import json

import pytest

from helpers import data, datacheck


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = {"id": "a", "dialogue": "#Person1#: Hi.\n#Person2#: Hello.", "summary": "They greet.", "topic": "greeting"}


def test_pocket_splits_have_the_dialogsum_columns():
    for split, minimum in (("train", 600), ("validation", 60), ("test", 150)):
        ds = data.load_dialogsum("pocket", split)
        assert len(ds) >= minimum
        assert set(ds.column_names) == set(data.COLUMNS)
    test = data.load_dialogsum("pocket", "test")
    assert all(len(r) == 3 and r[0] == s for r, s in zip(test["references"], test["summary"]))


def test_pocket_dataset_passes_the_checker():
    problems = datacheck.check_folder(data.POCKET)
    assert problems == [], "\n".join(problems[:20])


def test_limit_and_bad_limit():
    assert len(data.load_dialogsum("pocket", "validation", limit=5)) == 5
    with pytest.raises(ValueError, match="limit"):
        data.load_dialogsum("pocket", "validation", limit=0)


def test_unknown_split_and_source():
    with pytest.raises(ValueError, match="validation"):
        data.load_dialogsum("pocket", "dev")
    with pytest.raises(ValueError, match="pocket"):
        data.load_dialogsum("web", "train")


@pytest.mark.parametrize("line,needle", [
    ('{"id": "b", "dialogue": "x"', "line 2: not valid JSON"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "summary"}), "line 2: missing field 'summary'"),
    (json.dumps({**GOOD, "topic": 3}), "line 2: field 'topic' must be a string"),
    (json.dumps({**GOOD, "dialogue": "   "}), "line 2: field 'dialogue' is empty"),
])
def test_malformed_rows_name_file_line_and_field(tmp_path, line, needle):
    path = _write(tmp_path / "train.jsonl", [json.dumps(GOOD), line])
    with pytest.raises(data.DataError) as err:
        data.load_dialogsum("pocket", "train", folder=tmp_path)
    assert str(path) in str(err.value) and needle in str(err.value)


def test_a_checker_can_collect_every_bad_row(tmp_path):
    path = _write(tmp_path / "train.jsonl", [json.dumps(GOOD), "{oops", json.dumps({**GOOD, "id": "c"}),
                                             json.dumps({**GOOD, "id": "d", "summary": ""})])
    skipped = []
    rows = data.read_jsonl(path, skipped=skipped)
    assert [r["id"] for r in rows] == ["a", "c"]
    assert len(skipped) == 2 and "line 2: not valid JSON" in skipped[0] and "line 4: field 'summary'" in skipped[1]


def test_non_ascii_text_is_kept(tmp_path):
    _write(tmp_path / "train.jsonl", [json.dumps({**GOOD, "summary": "Zoë pays 5 € in Köln."}, ensure_ascii=False)])
    assert data.load_dialogsum("pocket", "train", folder=tmp_path)[0]["summary"] == "Zoë pays 5 € in Köln."


def test_hub_unreachable_says_so(monkeypatch):
    def offline(*args, **kwargs):  # what datasets raises when the Hub cannot be reached
        raise ConnectionError("Couldn't reach 'knkarthick/dialogsum' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(data, "load_dataset", offline)
    with pytest.raises(ConnectionError, match="pocket.*Couldn't reach"):
        data.load_dialogsum("hub", "validation")


def test_hub_rows_get_the_pocket_columns(monkeypatch):
    """DialogSum on the Hub has id, dialogue, summary, topic: the loader checks them and adds references."""
    asked = []

    def hub(name, split):
        asked.append((name, split))
        return [{**GOOD, "id": f"dev_{i}", "extra": "dropped"} for i in range(3)]

    monkeypatch.setattr(data, "load_dataset", hub)
    ds = data.load_dialogsum("hub", "validation", limit=2)
    assert asked == [(data.HUB_NAME, "validation")]
    assert len(ds) == 2 and set(ds.column_names) == set(data.COLUMNS)
    assert ds[0]["references"] == [GOOD["summary"]]
    monkeypatch.setattr(data, "load_dataset", lambda name, split: [{**GOOD, "summary": " "}])
    with pytest.raises(data.DataError, match=r"knkarthick/dialogsum\[validation\]\[0\]: field 'summary' is empty"):
        data.load_dialogsum("hub", "validation")


def test_checker_catches_problems(tmp_path):
    bad = {**GOOD, "dialogue": "Person1: hi"}
    _write(tmp_path / "train.jsonl", [json.dumps(bad), json.dumps(bad)])
    for split in ("validation", "test"):
        _write(tmp_path / f"{split}.jsonl", [])
    problems = "\n".join(datacheck.check_folder(tmp_path, min_rows={}))
    assert "without a '#PersonN#: ' tag" in problems
    assert "duplicate id" in problems
    assert "turns, want 2-20" in problems
