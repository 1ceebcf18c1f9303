import pytest

from helpers import data, probes


SHIPPED = {p["id"]: p for p in data.load_probes()}

# One probe per category: replies that are right (with an explanation or in other words), hedged, and wrong.
CASES = {
    "arithmetic": ("arith-001", ["12", "7 + 5 = 12.", "The answer is twelve.", "12, since 7 + 5 = 12"],
                   ["12 or 13", "Either 11 or 12.", "12, or 13", "12/13"], ["13", "7 + 5 = 13", "I don't know."]),
    "world_facts": ("fact-001", ["Paris", "Paris, of course.", "The capital of France is Paris.", "Sure! Paris."],
                    ["Paris or Lyon", "Lyon or Paris", "Paris (or Lyon)"],
                    ["Lyon", "Marseille.", "The capital is Lyon.", "I think it's Lyon. Paris is nice.", "Not Paris."]),
    "time_units": ("time-016", ["29", "29 days.", "February has 29 days in a leap year."], ["28 or 29", "28-29"],
                   ["28", "February has 28 days."]),
    "measurement_units": ("measure-014", ["50", "Half a metre is 50 centimetres.", "0.5 m = 50 cm", "Fifty."],
                          ["50 or 100"], ["100", "Half."]),
    "word_forms": ("form-002", ["mice", "Mice, not mouses.", "The plural of 'mouse' is 'mice'."],
                   ["mice or mouses", "mouses/mice"], ["mouses", "Mouse."]),
    "antonyms": ("antonym-001", ["cold", "Cold - the opposite of hot.", "The opposite of 'hot' is 'cold'."],
                 ["cold or warm", "cool or cold"], ["warm", "hot"]),
    "sentiment": ("sent-001", ["Positive", "Positive - the speaker loves the day.", "The sentiment is positive.",
                               "Positive, not negative.", "It isn't negative, it's positive."],
                  ["Positive or negative", "positive/negative", "Positive and negative."],
                  ["Negative", "It is not positive.", "Neutral."]),
    "translation": ("trans-001", ["cat", "Cat.", "'Chat' means 'cat' in English."], ["cat or dog", "cat or chat"],
                    ["dog", "The English word is dog."]),
    "selection": ("select-020", ["9", "9, since 9 > 3 and 5", "The largest number is 9.", "Nine."], ["9 or 5"],
                  ["5", "3"]),
    "counting": ("count-002", ["3", "Three items.", "There are 3 items: apple, banana and cherry."], ["3 or 4"],
                 ["4", "There are four items."]),
    "yes_no": ("yn-001", ["Yes", "Yes, no doubt.", "Yes. Ice is cold.", "Ice is cold, yes.", "Yeah."],
               ["Yes or no", "yes/no", "Yes and no."], ["No", "No, ice is warm.", "Not really."]),
}


def test_every_category_has_a_scoring_case():
    assert set(CASES) == {p["category"] for p in SHIPPED.values()}
    assert all(SHIPPED[pid]["category"] == cat for cat, (pid, *_) in CASES.items())


@pytest.mark.parametrize("category", list(CASES))
def test_correct_answers_pass_and_hedged_or_wrong_ones_fail(category):
    pid, right, hedged, wrong = CASES[category]
    probe = SHIPPED[pid]
    assert [r for r in right if not probes.judge(r, probe)] == []
    assert [r for r in hedged if probes.judge(r, probe)] == []
    assert [r for r in wrong if probes.judge(r, probe)] == []


def test_label_probes_by_position_and_class():
    colour = SHIPPED["select-001"]  # Which of these is a colour: apple, blue, chair?
    assert probes.judge("Blue, because apple is a fruit.", colour)
    assert not probes.judge("Apple or blue.", colour) and not probes.judge("chair", colour)


@pytest.mark.parametrize("reply,answers,wrong,ok", [
    ("12", ["12", "twelve"], [], True),
    ("7 + 5 = 12.", ["12"], [], True),
    ("The answer is Twelve!", ["12", "twelve"], [], True),
    ("112", ["12"], [], False),  # whole words only
    ("Paris\nBut also Lyon", ["paris"], [], True),
    ("The capital is\nParis", ["paris"], [], False),  # the answer belongs on the first line
    ("Positive, not negative.", ["positive"], ["negative"], True),  # the explanation may name a wrong answer
    ("Negative, not positive.", ["positive"], ["negative"], False),
    ("No, a cat cannot fly.", ["no"], ["yes"], True),
    ("Not really", ["no"], ["yes"], False),
    ("The Sun.", ["sun", "the sun"], [], True),
    ("hello or hi", ["hello", "hi"], [], True),  # two accepted answers are not a hedge
    ("'mice'", ["mice"], [], True),
    ("", ["yes"], ["no"], False),
])
def test_word_rule(reply, answers, wrong, ok):
    assert probes.is_correct(reply, answers, wrong) is ok


@pytest.mark.parametrize("text,expected", [
    ("7 + 5 = 12", [7, 5, 12]), ("one hundred and twenty", [120]), ("twenty-four hours", [24]),
    ("1,000 grams", [1000]), ("a thousand", [1000]), ("0.5 m = 50 cm", [0.5, 50]), ("three, four", [3, 4]),
    ("no numbers here", []),
])
def test_numbers_in_digits_and_words(text, expected):
    assert probes.numbers(text) == expected


def test_a_numbered_list_is_not_read_as_a_count():
    one = SHIPPED["count-016"]  # How many items are in this list: pen?
    assert not probes.judge("1. pen\n2. pen\n3. pen", one)
    assert probes.judge("1 item: pen.", one) and probes.judge("One.\n2. is wrong", one)


def test_number_rule_ignores_the_question_s_own_numbers():
    ask = "How many hours are in two days? Answer with the number only."
    assert probes.is_correct("Two days have 48 hours.", ["48"], fmt="number", instruction=ask)
    assert not probes.is_correct("Two days have 24 or 48 hours.", ["48"], fmt="number", instruction=ask)
    assert not probes.is_correct("Two.", ["48"], fmt="number", instruction=ask)


@pytest.mark.parametrize("fmt,answers,wrong,needle", [
    ("essay", ["x"], [], "unknown answer format"),
    ("number", ["twelve or 13"], [], "one number"),
    ("yes_no", ["maybe"], [], "'yes' or 'no'"),
    ("label", ["positive"], [], "other labels"),
    ("word", [], [], "accepted answer"),
])
def test_probes_that_do_not_fit_their_format_are_refused(fmt, answers, wrong, needle):
    with pytest.raises(ValueError, match=needle):
        probes.is_correct("x", answers, wrong, fmt)


def test_shipped_probes_are_many_and_balanced_and_score_their_own_answers():
    cats = {}
    for p in SHIPPED.values():
        cats[p["category"]] = cats.get(p["category"], 0) + 1
        assert p["format"] in probes.FORMATS, p["id"]
        assert probes.judge(p["answers"][0], p), p["id"]
        for w in p["wrong"]:
            assert not probes.judge(w, p) and not probes.judge(f"{p['answers'][0]} or {w}", p), (p["id"], w)
    assert len(SHIPPED) >= 150 and min(cats.values()) >= 15, cats
    assert len({p["instruction"] for p in SHIPPED.values()}) == len(SHIPPED)


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


def test_sample_is_balanced_over_categories():
    ps = list(data.load_probes())
    cats = {p["category"] for p in ps}
    sub = probes.sample(ps, limit=2 * len(cats))
    assert len(sub) == 2 * len(cats)
    assert {p["category"] for p in sub} == cats
    assert probes.sample(ps, limit=0) == ps


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
