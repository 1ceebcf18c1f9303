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


def test_skipping_bad_rows_is_explicit_and_reported(tmp_path, capsys):
    path = _write(tmp_path / "train.jsonl", [json.dumps(GOOD), "{oops", json.dumps({**GOOD, "id": "c"})])
    rows, report = data.read_jsonl(path, skip_bad=True)
    assert [r["id"] for r in rows] == ["a", "c"]
    assert len(report.skipped) == 1 and "line 2" in report.skipped[0]
    assert "1 skipped" in capsys.readouterr().out


def test_non_ascii_text_is_kept(tmp_path):
    _write(tmp_path / "train.jsonl", [json.dumps({**GOOD, "summary": "Zoë pays 5 € in Köln."}, ensure_ascii=False)])
    assert data.load_dialogsum("pocket", "train", folder=tmp_path)[0]["summary"] == "Zoë pays 5 € in Köln."


def test_hub_unreachable_says_so():
    with pytest.raises(ConnectionError, match="pocket"):
        data.load_dialogsum("hub", "validation")


def test_checker_catches_problems(tmp_path):
    bad = {**GOOD, "dialogue": "Person1: hi\n#Person2#: hello"}
    _write(tmp_path / "train.jsonl", [json.dumps(bad), json.dumps(bad)])
    for split in ("validation", "test"):
        _write(tmp_path / f"{split}.jsonl", [])
    problems = "\n".join(datacheck.check_folder(tmp_path, min_rows={}))
    assert "without a '#PersonN#: ' tag" in problems
    assert "duplicate id" in problems
    assert "turns, want 5-20" in problems
