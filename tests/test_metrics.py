import numpy as np
import pytest

from helpers import metrics, models
from helpers.rouge_metric.rouge_metric import sentences_per_line


def test_identical_text_scores_one():
    r = metrics.rouge(["The cat sat on the mat."], ["The cat sat on the mat."], n_boot=50)
    for k in metrics.KEYS:
        assert r[k]["mean"] == pytest.approx(1.0)


def test_disjoint_text_scores_zero():
    r = metrics.rouge(["alpha beta gamma"], ["delta epsilon zeta"], n_boot=50)
    assert r["rouge1"]["mean"] == 0.0


def test_known_pair_with_stemming():
    # "cats" and "cat" match once stemmed: 3 of 3 unigrams shared after stemming
    scores = metrics.per_example(["cats are running"], ["cat are run"])
    assert scores["rouge1"][0] == pytest.approx(1.0)


def test_several_references_take_the_best_match():
    one = metrics.per_example(["the bus was late"], [["a train came early"]])["rouge1"][0]
    two = metrics.per_example(["the bus was late"], [["a train came early", "the bus was late"]])["rouge1"][0]
    assert one < 0.3 and two == pytest.approx(1.0)


def test_rougelsum_uses_sentence_lines():
    assert sentences_per_line("He left. She stayed! Why? #Person1# agreed.") == "He left.\nShe stayed!\nWhy?\n#Person1# agreed."


def test_results_repeat_exactly():
    preds = ["a b c d", "e f g", "h i j k l", "a e i"]
    refs = ["a b x d", "e f", "k l m", "o u"]
    assert metrics.rouge(preds, refs, seed=3) == metrics.rouge(preds, refs, seed=3)
    r = metrics.rouge(preds, refs)
    assert r["rouge1"]["low"] <= r["rouge1"]["mean"] <= r["rouge1"]["high"]


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        metrics.per_example(["a", "b"], ["a"])


def test_paired_difference_and_share_improved():
    d = metrics.paired_difference([0.1, 0.2, 0.3, 0.5], [0.3, 0.2, 0.6, 0.4], n=200)
    assert d["mean"] == pytest.approx(0.1)
    assert d["improved"] == 0.5 and d["worse"] == 0.25 and d["same"] == 0.25
    assert d["low"] <= d["mean"] <= d["high"]
    same = metrics.paired_difference([0.1, 0.2], [0.3, 0.2], seed=4)
    assert same == metrics.paired_difference([0.1, 0.2], [0.3, 0.2], seed=4)
    with pytest.raises(ValueError, match="equally long"):
        metrics.paired_difference([0.1], [0.1, 0.2])


def test_improvement_and_course_tables():
    before = metrics.rouge(["a b c", "d e f"], ["a x y", "d e z"], n_boot=20)
    after = metrics.rouge(["a x y", "d e f"], ["a x y", "d e z"], n_boot=20)
    table = metrics.improvement_table(before, after, n=20)
    assert "| rouge1 |" in table and "+" in table.splitlines()[2]
    course = metrics.course_table({"original": before})
    assert "theirs" in course and "0.4216" in course and "ours" in course


def test_the_verdict_names_a_direction_only_when_the_interval_excludes_zero():
    assert metrics.verdict(-0.01, 0.02, "bf16", "fp32") == "no difference measurable at this size"
    assert metrics.verdict(0.0, 0.02) == "no difference measurable at this size"  # touching zero is not a direction
    assert metrics.verdict(0.01, 0.05, "LoRA", "original") == "LoRA higher than original"
    assert metrics.verdict(-0.05, -0.01, "LoRA", "original") == "LoRA lower than original"
    with pytest.raises(ValueError, match="above its high end"):
        metrics.verdict(0.2, 0.1)


def test_a_comparison_records_both_sides_the_interval_and_a_verdict_that_follows_it():
    a = [0.30, 0.32, 0.28, 0.31, 0.29, 0.30, 0.33, 0.27] * 5
    better = [x + 0.05 for x in a]
    c = metrics.compare("rouge1_original_vs_full", "rouge1", a, better, "original", "full", n=500)
    assert set(c) >= {"name", "metric", "n", "a", "b", "diff", "low", "high", "verdict"}
    assert c["n"] == 40 and abs(c["diff"] - 0.05) < 1e-9 and 0 < c["low"] <= c["diff"] <= c["high"]
    assert c["verdict"] == "full higher than original"
    noisy = [x + (0.05 if i % 2 else -0.05) for i, x in enumerate(a)]  # as many up as down: no direction
    assert metrics.compare("x", "rouge1", a, noisy, n=500)["verdict"] == "no difference measurable at this size"


def test_mcnemar_counts_only_the_discordant_pairs():
    same = metrics.mcnemar([1, 0, 1, 0], [1, 0, 1, 0])
    assert same == {"lost": 0, "gained": 0, "p": 1.0}
    lost = metrics.mcnemar([1] * 10 + [0] * 5, [0] * 10 + [0] * 5)  # 10 lost, 0 gained: p = 2 / 2**10
    assert lost["lost"] == 10 and lost["gained"] == 0 and abs(lost["p"] - 2 / 1024) < 1e-12
    balanced = metrics.mcnemar([1, 1, 0, 0], [0, 0, 1, 1])
    assert balanced["p"] == 1.0
    with pytest.raises(ValueError, match="equally long"):
        metrics.mcnemar([1, 0], [1])


def test_the_share_of_a_gain_has_a_paired_interval_and_refuses_a_gain_that_is_not_positive():
    rng = np.random.default_rng(1)
    base = rng.uniform(0.2, 0.3, 200)
    full = base + 0.10 + rng.normal(0, 0.02, 200)
    half = base + 0.05 + rng.normal(0, 0.02, 200)
    s = metrics.share_of_gain(base, full, half, n=500)
    assert 0.4 < s["low"] < s["share"] < s["high"] < 0.6
    with pytest.raises(ValueError, match="not positive"):
        metrics.share_of_gain(base, base - 0.01, half)


def test_shot_gain_is_a_paired_comparison_of_zero_and_k_shots(tokenizer):
    model, tok = models.tiny("causal", tokenizer, seed=2)
    rows = [{"dialogue": f"#Person1#: hi {i}\n#Person2#: hello", "summary": "They greet.", "references": ["They greet."]}
            for i in range(3)]
    shots = [[{"dialogue": "#Person1#: bye\n#Person2#: see you", "summary": "They part."}] * 2 for _ in rows]
    out = metrics.shot_gain(model, tok, shots, rows, 2, fmt="plain", label="tiny", max_new_tokens=4)
    assert out["name"] == "rouge1_k0_vs_k2_tiny" and out["n"] == 3 and out["b_label"] == "k=2"
    assert out["low"] <= out["diff"] <= out["high"] and out["diff"] == pytest.approx(out["b"] - out["a"], abs=1e-9)
    with pytest.raises(ValueError, match="at least 1 shot"):
        metrics.shot_gain(model, tok, shots, rows, 0, fmt="plain")
    with pytest.raises(ValueError, match="one list per row"):
        metrics.shot_gain(model, tok, shots[:1], rows, 1, fmt="plain")
