import pytest

from helpers import data, probes


@pytest.mark.parametrize("reply,answers,wrong,ok", [
    ("12", ["12", "twelve"], [], True),
    ("7 + 5 = 12.", ["12"], [], True),
    ("The answer is Twelve!", ["12", "twelve"], [], True),
    ("112", ["12"], [], False),  # whole words only
    ("Paris\nBut also Lyon", ["paris"], [], True),
    ("The capital is\nParis", ["paris"], [], False),  # first line only
    ("Positive, not negative.", ["positive"], ["negative"], False),  # a wrong string spoils it
    ("No, a cat cannot fly.", ["no"], ["yes"], True),
    ("Not really", ["no"], ["yes"], False),
    ("The Sun.", ["sun", "the sun"], [], True),
    ("one hundred", ["100", "one hundred"], [], True),
    ("'mice'", ["mice"], [], True),
    ("", ["yes"], ["no"], False),
])
def test_scoring_rule(reply, answers, wrong, ok):
    assert probes.is_correct(reply, answers, wrong) is ok


def test_normalize():
    assert probes.normalize("  Hello, World!\nsecond line") == "hello world"
    assert probes.normalize("twenty-one") == "twenty one"
    with pytest.raises(TypeError):
        probes.normalize(None)


def test_per_category_accuracy_and_table():
    ps = [{"id": "a1", "category": "a", "answers": ["x"], "wrong": []},
          {"id": "a2", "category": "a", "answers": ["y"], "wrong": []},
          {"id": "b1", "category": "b", "answers": ["z"], "wrong": ["w"]}]
    r = probes.score(["x", "no", "z w"], ps)
    assert r.correct == [True, False, False]
    assert r.per_category == {"a": 0.5, "b": 0.0}
    assert r.accuracy == pytest.approx(1 / 3) and r.macro == pytest.approx(0.25)
    assert "| a | 50% |" in probes.table({"m": r})
    with pytest.raises(ValueError, match="replies"):
        probes.score(["x"], ps)
    with pytest.raises(ValueError, match="accepted answer"):
        probes.is_correct("x", [])


def test_sample_is_balanced_over_categories():
    ps = list(data.load_probes())
    cats = {p["category"] for p in ps}
    sub = probes.sample(ps, limit=2 * len(cats))
    assert len(sub) == 2 * len(cats)
    assert {p["category"] for p in sub} == cats
    assert probes.sample(ps, limit=0) == ps


def test_every_shipped_probe_accepts_its_own_answers():
    for p in data.load_probes():
        assert probes.is_correct(p["answers"][0], p["answers"], p["wrong"]), p["id"]


def test_prompts_use_the_chat_template(tokenizer):
    ps = list(data.load_probes(limit=2))
    texts = probes.prompt_texts(tokenizer, ps)
    assert all(p["instruction"] in t and t.rstrip().endswith("assistant") for p, t in zip(ps, texts))


def test_evaluate_on_a_tiny_model(tokenizer):
    from helpers import models

    model, _ = models.tiny("causal", tokenizer)
    ps = list(data.load_probes(limit=3))
    r = probes.evaluate(model, tokenizer, ps, max_new_tokens=3, progress=False)
    assert len(r.replies) == 3 and 0.0 <= r.accuracy <= 1.0 and r.seconds > 0
