"""The labs' exercises: every lab has 3-5, every worked solution passes its checker at smoke size, a wrong answer gets
a hint (never the answer) and not a pass, and the registry's errors say what to do."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from helpers import data, exercises, prompts

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # solutions/ is not part of the installed package
LABS = sorted(p.stem for p in (REPO / "labs").glob("*.ipynb"))  # "00_setup", ...
_ANSWERS: dict[str, object] = {}


def _solution(exercise_id: str):
    """The solve_NN_n function of solutions/<the lab's notebook name>.py."""
    lab = next(name for name in LABS if name[:2] == exercise_id.split(".")[0])
    module = importlib.import_module(f"solutions.{lab}")
    return getattr(module, "solve_" + exercise_id.replace(".", "_"))


def _answer(exercise_id: str):
    """The worked solution's answer at smoke size, computed once per session."""
    if exercise_id not in _ANSWERS:
        _ANSWERS[exercise_id] = _solution(exercise_id)("smoke")
    return _ANSWERS[exercise_id]


def test_every_lab_has_three_to_five_exercises():
    assert len(LABS) == 7
    counts = {lab: len(exercises.ids(lab[:2])) for lab in LABS}
    assert all(3 <= n <= 5 for n in counts.values()), counts
    assert sum(counts.values()) == len(exercises.EXERCISES), "an exercise belongs to no lab"


def test_every_exercise_has_a_task_and_a_solution():
    for exercise_id, ex in exercises.EXERCISES.items():
        assert ex.id == exercise_id and ex.title and ex.expects
        assert 2 <= len(ex.task.splitlines()) <= 5, f"{exercise_id}: the task should take 2-5 lines"
        assert callable(_solution(exercise_id))


@pytest.mark.slow
@pytest.mark.parametrize("exercise_id", exercises.ids())
def test_solution_passes_its_checker(exercise_id, embedded, capsys):
    assert exercises.check(exercise_id, _answer(exercise_id)) is True
    assert "PASS" in capsys.readouterr().out


# A typical mistake for each exercise, made from the worked answer: each must get a hint, not a pass.
WRONG = {
    "00.1": lambda a: {**a, "total": a["total"] + a["embedding"]},  # the tied embedding counted twice
    "00.2": lambda a: {k: "fp16" if v != "fp16" else "fp32" for k, v in a.items()},
    "00.3": lambda a: {**a, "smoke": a["smoke"] + 1},
    "00.4": lambda a: {**a, "added": 0},
    "01.1": lambda a: [n + 1 for n in a],
    "01.2": lambda a: {**a, "template": (a["template"] + 1) % len(prompts.SUMMARY_TEMPLATES)},
    "01.3": lambda a: {**a, 512: a[512] + 1},
    "01.4": lambda a: {**a, "rouge1": {0: a["rouge1"][0] + 0.05, 1: a["rouge1"][1]}},
    "02.1": lambda a: {"masked": a["unmasked"], "unmasked": a["unmasked"]},
    "02.2": lambda a: {k: v for k, v in prompts.pair(data.load_dialogsum("pocket", "train", limit=1)[0]).items()
                       if k in ("prompt", "completion")},  # the lab's own template 0
    "02.3": lambda a: {4: a[16], 16: a[4]},
    "03.1": lambda a: {k: v * 1024 ** 3 / 1e9 for k, v in a.items()},  # GB instead of GiB
    "03.2": lambda a: {**a, "static": a["static"] * 0.75},  # 12 bytes a parameter instead of 16
    "03.3": lambda a: {**a, "mask_off": a["mask_on"] + 0.1},
    "04.1": lambda a: {**a, "f1": (a["precision"] + a["recall"]) / 2},  # arithmetic, not harmonic mean
    "04.2": lambda a: {**a, "mean": a["mean"] + 0.05},
    "04.3": lambda a: dict(zip(a, reversed(list(a.values())))),
    "05.1": lambda a: {**a, "lost": a["lost"] + 1},
    "05.2": lambda a: {**a, "p": a["p"] / 2 if a["p"] < 1 else 0.5},
    "05.3": lambda a: "12",  # a plain right answer: the judge accepts it
    "06.1": lambda a: {"qv": a["mlp"], "mlp": a["qv"]},
    "06.2": lambda a: {r: 2 * n for r, n in a.items()},
    "06.3": lambda a: {**a, "adapter_effect": 0.0},  # B left at zero
}


def _shown_values(answer) -> list[str]:
    """The worked answer's numbers as a hint could print them (ints of 3+ digits, floats to 3 decimals)."""
    values = answer.values() if isinstance(answer, dict) else answer if isinstance(answer, list) else []
    out = []
    for v in values:
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 100:
            out.append(str(v))
        elif isinstance(v, float) and v != 0:
            out.append(f"{v:.3f}")
    return out


def test_every_exercise_has_a_wrong_answer_here():
    assert set(WRONG) == set(exercises.EXERCISES)


@pytest.mark.slow
@pytest.mark.parametrize("exercise_id", exercises.ids())
def test_wrong_answer_gets_a_hint_not_the_answer(exercise_id, embedded, capsys):
    right = _answer(exercise_id)
    assert exercises.check(exercise_id, WRONG[exercise_id](right)) is False
    out = capsys.readouterr().out
    assert "Hint:" in out and "PASS" not in out
    leaked = [v for v in _shown_values(right) if v in out]
    assert not leaked, f"the hint shows the answer's value(s) {leaked}: {out}"


def test_unknown_id_lists_the_ids():
    with pytest.raises(ValueError, match="03.1"):
        exercises.check("9.9", 1)


def test_no_answer_and_wrong_types_get_a_clear_message(capsys):
    assert exercises.check("03.1", None) is False
    assert "no answer yet" in capsys.readouterr().out
    assert exercises.check("03.1", [1.0, 2.0]) is False
    out = capsys.readouterr().out
    assert "expected" in out and "got list" in out
    assert exercises.check("03.1", {"ddp": 1.0}) is False
    assert "needs the key(s)" in capsys.readouterr().out
    assert exercises.check("03.1", {"ddp": "a lot", "zero1": 1, "zero2": 1, "zero3": 1}) is False
    assert "should be numbers" in capsys.readouterr().out


def test_zero_formula_matches_the_zero_paper():
    # the ZeRO paper's example: 7.5B parameters on 64 GPUs need 120 GB (DDP), 31.4 GB (ZeRO-1), 16.6 GB (ZeRO-2),
    # 1.88 GB (ZeRO-3) a GPU
    gb = {k: v * 1024 ** 3 / 1e9 for k, v in exercises.zero_gib(7.5e9, 64).items()}
    assert gb["ddp"] == pytest.approx(120, rel=0.01) and gb["zero1"] == pytest.approx(31.4, rel=0.01)
    assert gb["zero2"] == pytest.approx(16.6, rel=0.01) and gb["zero3"] == pytest.approx(1.88, rel=0.01)


def test_mcnemar_p_agrees_with_metrics():
    from helpers import metrics

    for lost, gained in ((0, 0), (5, 1), (3, 3), (8, 0), (2, 9)):
        a = [True] * lost + [False] * gained + [True, False]
        b = [False] * lost + [True] * gained + [True, False]
        assert exercises.mcnemar_p(lost, gained) == pytest.approx(metrics.mcnemar(a, b)["p"])


def test_markdown_holds_every_exercise_of_the_lab():
    text = exercises.markdown("03")
    for exercise_id in exercises.ids("03"):
        ex = exercises.EXERCISES[exercise_id]
        assert f"{ex.id} · {ex.title}" in text and ex.task in text
    assert "04.1" not in text
    with pytest.raises(ValueError, match="labs with exercises"):
        exercises.markdown("99")
