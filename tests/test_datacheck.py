import json

import pytest

from helpers import datacheck as dc

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()
SUMMARY = "#Person1# asks #Person2# about the late train and they agree to meet later at the station."  # 17 words


def dialogue(turns: int = 10, words_per_turn: int = 10, speakers: int = 2) -> str:
    """A dialogue of ``turns`` lines of ``words_per_turn`` words each."""
    line = lambda i: " ".join(WORDS[(i + k) % len(WORDS)] for k in range(words_per_turn))  # noqa: E731
    return "\n".join(f"#Person{i % speakers + 1}#: {line(i)}" for i in range(turns))


def rows(n: int = 10, summary: str = SUMMARY, special: int = 0, **special_dialogue) -> list[dict]:
    """``n`` rows with a 100-word dialogue; the first ``special`` rows get dialogue(**special_dialogue) instead."""
    return [{"id": f"r{i}", "dialogue": dialogue(**special_dialogue) if i < special else dialogue(),
             "summary": summary, "topic": "travel"} for i in range(n)]


def verdict(name: str, rs: list[dict]) -> bool:
    return dc.SPLIT_BANDS[name].ok(dc.split_stats(rs)[name])


def test_definitions_match_the_writers_checker():
    assert dc.dialogue_words("#Person1#: Hi there.\n#Person2#: Hello.") == 3
    assert dc.summary_words("#Person1# pays #Person2#.") == 3
    assert dc.sentences("One. Two? Three!") == ["One.", "Two?", "Three!"]
    assert not dc.has_digit("#Person1# thanks #Person2#.") and dc.has_digit("#Person1# pays 5 euros.")
    assert dc.words("#Person1#'s cat") == ["#person1#", "'s", "cat"]
    assert dc.unigram_f1("a b c d", "a b c d") == 1.0 and dc.unigram_f1("a b", "c d") == 0.0
    assert dc.unigram_f1("a b c d", "a b x y") == pytest.approx(0.5)


@pytest.mark.parametrize("name,good,bad", [
    ("summary words, mean", rows(), rows(summary=" ".join(["word"] * 40) + ".")),
    ("summary/dialogue word ratio, mean", rows(), rows(special=10, turns=6)),  # 17 words of 60
    ("one-sentence summaries", rows(), rows(summary="#Person1# calls. #Person2# answers the phone.")),
    ("summaries with a digit (tags aside)", rows(), rows(summary="#Person1# meets #Person2# at 5 pm.")),
    ("dialogues under 60 words", rows(special=1, turns=5), rows()),
    ("dialogues under 5 turns", rows(special=1, turns=4, words_per_turn=15), rows()),
    ("dialogues with a #Person3#", rows(), rows(special=1, speakers=3)),
])
def test_each_split_band_passes_and_fails(name, good, bad):
    assert verdict(name, good) and not verdict(name, bad)


def test_discourse_markers_are_reported_per_thousand_tokens():
    rs = [{"id": "a", "dialogue": "#Person1#: Well, oh well.\n#Person2#: " + " ".join(["x"] * 97), "summary": "s",
           "topic": "t"}]
    stats = dc.split_stats(rs)
    assert stats["'well' per 1,000 dialogue tokens"] == pytest.approx(20.0)
    assert stats["'oh' per 1,000 dialogue tokens"] == pytest.approx(10.0)
    assert str(dc.SPLIT_BANDS["'oh' per 1,000 dialogue tokens"]) == "(reported)"


def _topics(labels: list[str]) -> list[dict]:
    return [{"topic": t} for t in labels]


def test_topic_bands():
    top10, test_band = list(dc.CORPUS_BANDS.values())[:2]
    coarse = {"train": _topics(["shopping"] * 50 + ["travel"] * 50), "test": _topics(["shopping"] * 5 + ["exam"] * 5)}
    scattered = {"train": _topics([f"scene {i}" for i in range(250)]),
                 "test": _topics([f"other {i}" for i in range(10)])}
    share, shared = dc.topic_stats(coarse)
    assert top10.ok(share) and test_band.ok(shared) and shared == pytest.approx(0.5)
    share, shared = dc.topic_stats(scattered)
    assert not top10.ok(share) and not test_band.ok(shared)


def _refs(*refs: str) -> list[dict]:
    return [{"references": list(refs)}]


def test_reference_bands():
    f1_band, cv_band = list(dc.CORPUS_BANDS.values())[2:4]
    independent = _refs("#Person1# books a table for two at an Italian restaurant for tonight.",
                        "#Person1# books a dinner table at a restaurant.",
                        "#Person1# calls an Italian restaurant and reserves a table for two tonight, asking for a "
                        "window because of a birthday.")
    f1, cv = dc.reference_stats(independent)
    assert f1_band.ok(f1) and cv_band.ok(cv)
    f1, cv = dc.reference_stats(_refs(*["#Person1# books a table."] * 3))
    assert not f1_band.ok(f1) and not cv_band.ok(cv)  # copies: F1 1.0, no length variation
    f1, _ = dc.reference_stats(_refs("alpha bravo", "charlie delta", "echo foxtrot"))
    assert not f1_band.ok(f1)
    with pytest.raises(ValueError, match="references"):
        dc.reference_stats([{"references": ["only one"]}])


def test_bigram_diversity_at_equal_counts():
    varied = [" ".join(WORDS[i:] + WORDS[:i]) + f" w{i}" for i in range(16)] * 2
    repetitive = ["the same summary again and again"] * 40
    assert dc.bigram_diversity(varied, n=100) > dc.bigram_diversity(repetitive, n=100) == 5
    assert dc.bigram_diversity(varied, n=100, seed=3) == dc.bigram_diversity(varied, n=100, seed=3)
    assert dc.bigram_diversity(repetitive, n=10_000) is None  # not enough text to measure


HELD = [
    ("watch", "#Person1#: My dive watch stopped. I think the battery is dead.\n#Person2#: We can replace the battery "
              "and test the seal so it stays waterproof.", "#Person2# replaces the battery of #Person1#'s dive watch."),
    ("bike", "#Person1#: My bicycle chain keeps slipping.\n#Person2#: The gears need adjusting; leave it with us.",
     "#Person1# leaves a bicycle with a slipping chain for repair."),
    ("exam", "#Person1#: Are you ready for the chemistry exam?\n#Person2#: Not at all, I still have to revise "
             "organic reactions.", "#Person2# is not ready for the chemistry exam."),
    ("cake", "#Person1#: What flour should I use for a sponge cake?\n#Person2#: Self-raising flour, and whisk the "
             "eggs well.", "#Person2# explains how to bake a sponge cake."),
    ("flat", "#Person1#: The kitchen tap in my flat is leaking.\n#Person2#: I'll send the landlord's plumber "
             "tomorrow.", "#Person1# reports a leaking tap and a plumber will come."),
]
TEST = [
    ("twin", "#Person1#: Hi, my diving watch has stopped, the battery must be flat.\n#Person2#: I'll fit a new battery "
             "and check the seal so the watch stays waterproof for diving.",
     "#Person1#'s diving watch needs a new battery and a seal check."),
    ("film", "#Person1#: Shall we see the new science fiction film tonight?\n#Person2#: Only if we get popcorn.",
     "#Person1# and #Person2# plan to watch a film."),
]


def _scenario_rows(items, split):
    return [{"id": f"{split}-{name}", "dialogue": d, "summary": s, "topic": "hobbies"} for name, d, s in items]


def test_twin_check_flags_a_paraphrased_twin_and_passes_unrelated_rows():
    held, test = _scenario_rows(HELD, "train"), _scenario_rows(TEST, "test")
    found = dc.twins(held, test, reviewed={})
    assert [(a, b) for _, a, b in found] == [("train-watch", "test-twin")]
    assert found[0][0] >= dc.TWIN_THRESHOLD
    assert dc.twins(held, test[1:], reviewed={}) == []
    assert dc.twins(held, test, reviewed={("train-watch", "test-twin"): "read: different"}) == []


def test_content_words_drop_tags_stop_words_and_fold_plurals():
    assert dc.content_words("#Person1#: Well, the batteries are in the watches, you know.") == ["battery", "watche"]


def test_five_gram_rule():
    a = {"id": "a", "summary": "#Person1# books a table for two at the Italian place tonight."}
    b = {"id": "b", "summary": "#Person1# books a table for two at the Italian place tonight, by the window."}
    c = {"id": "c", "summary": "#Person2# fixes a bicycle chain that keeps slipping."}
    # a's 11 words give 7 five-grams, all of them in b's 10: Jaccard 7 / 10
    assert dc.near_duplicates([a, b, c], "summary") == ["a ~ b: summary 5-gram Jaccard 0.70 >= 0.3"]
    assert dc.near_duplicates([a, c], "summary") == []


@pytest.mark.parametrize("change,needle", [
    ({"dialogue": "#Person1#: " + " ".join(["word"] * 30)}, "1 turns, want 2-20"),
    ({"dialogue": dialogue(turns=2, words_per_turn=10)}, "20 words, want 25-250"),
    ({"dialogue": dialogue(turns=21, words_per_turn=5)}, "21 turns, want 2-20"),
    ({"dialogue": "Person1: " + " ".join(["word"] * 30) + "\n#Person2#: ok"}, "without a '#PersonN#: ' tag"),
    ({"topic": "a very long scenario title"}, "should be 1-4 words"),
    ({"extra": 1}, "unexpected fields"),
])
def test_hard_rules_per_row(change, needle):
    good = {"id": "x", "dialogue": dialogue(turns=2, words_per_turn=13), "summary": "They talk.", "topic": "work"}
    assert dc.check_row(good, "train") == []
    assert any(needle in e for e in dc.check_row({**good, **change}, "train"))


def test_test_rows_need_three_references_led_by_the_summary():
    row = {"id": "t", "dialogue": dialogue(), "summary": "A.", "topic": "work", "references": ["A.", "B.", "C."]}
    assert dc.check_row(row, "test") == []
    assert "references[0] must equal summary" in dc.check_row({**row, "references": ["B.", "A.", "C."]}, "test")[0]
    assert "three non-empty strings" in dc.check_row({**row, "references": ["A."]}, "test")[0]


def test_main_prints_every_band_and_fails_on_bad_data(tmp_path, capsys):
    split_rows = {"train": rows(6), "validation": rows(2), "test": rows(3)}
    for split, rs in split_rows.items():
        rs = [{**r, "id": f"{split}-{r['id']}", "summary": f"{r['summary']} Row {split} {r['id']}."} for r in rs]
        if split == "test":
            rs = [{**r, "references": [r["summary"], "#Person2# waits.", "A train is late for #Person1#."]} for r in rs]
        (tmp_path / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rs) + "\n", encoding="utf-8")
    assert dc.main([str(tmp_path), "--shard"]) == 1
    out = capsys.readouterr().out
    for name in list(dc.SPLIT_BANDS) + list(dc.CORPUS_BANDS)[:4]:
        assert name in out
    assert "one-sentence summaries" in out and "OUT OF BAND" in out and "closest train/validation-test pairs" in out


def test_reviewed_pairs_are_read_from_the_data_folder(tmp_path):
    assert dc.read_review(tmp_path) == {}
    path = tmp_path / dc.REVIEW_FILE
    path.write_text("held_id\ttest_id\twhy\ntrain-watch\ttest-twin\tread: one is a wall clock\n", encoding="utf-8")
    reviewed = dc.read_review(tmp_path)
    held, test = _scenario_rows(HELD, "train"), _scenario_rows(TEST, "test")
    assert reviewed == {("train-watch", "test-twin"): "read: one is a wall clock"}
    assert dc.twins(held, test, reviewed=reviewed) == []
    path.write_text("held_id\ttest_id\twhy\ntrain-watch test-twin\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: want three tab-separated cells"):
        dc.read_review(tmp_path)


def test_shipped_review_file_is_well_formed():
    reviewed = dc.read_review(dc.POCKET)
    assert reviewed and all(a.startswith(("pocket-train-", "pocket-validation-")) and b.startswith("pocket-test-")
                            for a, b in reviewed)
