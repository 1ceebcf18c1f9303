"""Score the forgetting probes: short general-skill questions with answers a program can check.

Each probe names its answer ``format`` and one rule scores each format, the same way for every probe:

- The answer clause: the reply's first line is cut into clauses at sentence ends, commas, semicolons, colons,
  dashes, brackets, "because" and "since"; the answer is the first clause that names a candidate answer
  ("Yes, no doubt." -> "yes"; "9, since 9 > 3 and 5" -> "9"). For ``word`` probes, whose candidates cannot all be
  listed, only a lead-in ("Sure!", "The answer:") may come before it.
- Candidates: any number (digits or words) for ``number``; yes/no for ``yes_no``; the accepted answers and the
  ``wrong`` strings for ``label`` and ``word``. A candidate right after "not" or "never" is not named.
- Correct when the clause names exactly one answer and it is accepted. Hedges fail: two answers ("yes or no",
  "12 or 13"), or an "or" beside the answer ("Paris or Lyon", "12, or 13"). ``number`` probes ignore numbers the
  question itself contains when the reply names another ("7 + 5 = 12" -> 12).
"""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass, field

from . import prompts
from .models import kind_of

FORMATS = ("number", "yes_no", "label", "word")
YES_NO = {"yes": "yes", "yeah": "yes", "yep": "yes", "yup": "yes", "no": "no", "nope": "no"}
FILLERS = {"sure", "okay", "ok", "of course", "certainly", "well", "hmm", "answer", "the answer", "the answer is",
           "here you go", "good question", "great question"}
NEGATIONS = {"not", "never", "isnt", "isn't", "arent", "aren't", "wasnt", "wasn't", "doesnt", "doesn't"}
_CLAUSE_END = re.compile(r"[.!?;:](?:\s|$)|,\s*|(?<!\d)\s[-\u2013\u2014]\s(?!\d)|[\u2013\u2014()\[\]]"
                         r"|\b(?:because|since)\b")
_SMALL = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                                     "fourteen fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}


def normalize(text: str) -> str:
    """First line only, lower-cased, punctuation dropped, whitespace collapsed."""
    if not isinstance(text, str):
        raise TypeError(f"a reply must be a string, got {type(text).__name__}")
    lines = text.strip().splitlines()
    first = lines[0] if lines else ""
    # hyphens and slashes separate words ("twenty-one" -> "twenty one"); other punctuation just goes ("12." -> "12")
    kept = "".join((" " if c in "-/" else "") if unicodedata.category(c).startswith("P") else c for c in first.lower())
    return " ".join(kept.split())


def numbers(text: str) -> list[float]:
    """The numbers a text names, in digits or words: "7 + 5 = 12" -> [7, 5, 12]; "one hundred and twenty" -> [120]."""
    toks = re.findall(r"\d+(?:\.\d+)?|[a-z]+", re.sub(r"(?<=\d),(?=\d{3}\b)", "", text.lower()))
    out: list[float] = []
    total = current = 0
    last = None  # kind of the previous number word: "small", "tens", "scale"; None outside a number

    def flush():
        nonlocal total, current, last
        if last is not None:
            out.append(total + current)
        total = current = 0
        last = None

    for i, t in enumerate(toks):
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        if t[0].isdigit():
            flush()
            out.append(float(t))
        elif t in _SMALL or t in _TENS:
            if last == "small" or (last == "tens" and t in _TENS) or (last == "tens" and _SMALL.get(t, 0) >= 10):
                flush()
            current += _SMALL.get(t, _TENS.get(t, 0))
            last = "small" if t in _SMALL else "tens"
        elif t in _SCALES:
            if last is None:
                current = 1
            if _SCALES[t] == 100:
                current = (current or 1) * 100
            else:
                total += (current or 1) * _SCALES[t]
                current = 0
            last = "scale"
        elif t == "a" and nxt in _SCALES:
            flush()
        elif t == "and" and last == "scale" and (nxt in _SMALL or nxt in _TENS):
            continue
        elif t == "half":
            flush()
            out.append(0.5)
        else:
            flush()
    flush()
    return out


def _clauses(reply: str) -> list[tuple[str, str]]:
    """The reply's first non-empty line cut into (clause, what ended it); "/" reads as "or"."""
    if not isinstance(reply, str):
        raise TypeError(f"a reply must be a string, got {type(reply).__name__}")
    lines = [ln for ln in reply.strip().splitlines() if ln.strip()] or [""]
    first = lines[0]
    if len(lines) > 1 and re.match(r"\s*1[.)]\s", first) and re.match(r"\s*2[.)]\s", lines[1]):
        first = re.sub(r"^\s*1[.)]\s+", "", first)  # a numbered list: "1." numbers the item, it is no answer
    first = re.sub(r"(?<=\d),(?=\d{3}\b)", "", first).replace("/", " or ")
    pieces = _CLAUSE_END.split(first + " ")
    ends = [m.group(0).strip() for m in _CLAUSE_END.finditer(first + " ")] + [""]
    return [(c.strip(), e) for c, e in zip(pieces, ends) if c.strip()]


def _has(text: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``text`` (both normalized) as whole word(s), not right after a negation."""
    phrase = normalize(phrase)
    for m in re.finditer(rf"(?<!\w){re.escape(phrase)}(?!\w)", text) if phrase else ():
        before = text[: m.start()].split()
        if not (before and before[-1] in NEGATIONS):
            return True
    return False


def _named(part: str, fmt: str, answers: list[str], wrong: list[str], asked: set[float]) -> set:
    """The candidate answers one piece of a clause names, each as a canonical value."""
    if fmt == "number":
        found = set(numbers(part))
        return (found - asked) or found
    text = normalize(part)
    if fmt == "yes_no":
        ws = text.split()
        return {YES_NO[w] for i, w in enumerate(ws) if w in YES_NO and not (i and ws[i - 1] in NEGATIONS)}
    return ({"<accepted>"} if any(_has(text, a) for a in answers) else set()) | {w for w in wrong if _has(text, w)}


def _accepted(fmt: str, answers: list[str]) -> set:
    if fmt == "number":
        return {n for a in answers for n in numbers(a)}
    if fmt == "yes_no":
        return {YES_NO.get(normalize(a), normalize(a)) for a in answers}
    return {"<accepted>"}


def check_format(fmt: str, answers: list[str], wrong: list[str]) -> None:
    """Raise ValueError, saying how to fix it, when a probe's answers do not fit its format."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown answer format {fmt!r}; choose one of {FORMATS}")
    if not answers:
        raise ValueError("a probe needs at least one accepted answer")
    if fmt == "number" and not all(len(numbers(a)) == 1 for a in answers):
        raise ValueError(f"a number probe's answers must each be one number, got {answers}")
    if fmt == "yes_no" and not _accepted(fmt, answers) <= {"yes", "no"}:
        raise ValueError(f"a yes_no probe's answer must be 'yes' or 'no', got {answers}")
    if fmt == "label" and not wrong:
        raise ValueError("a label probe lists the other labels in 'wrong' (e.g. answers ['positive'], "
                         "wrong ['negative'])")


def is_correct(reply: str, answers: list[str], wrong: list[str] | None = None, fmt: str = "word",
               instruction: str = "") -> bool:
    """The rule of ``fmt`` (see the module docstring): one answer named in the answer clause, and it is accepted."""
    wrong = list(wrong or [])
    check_format(fmt, answers, wrong)
    asked = set(numbers(instruction)) if fmt == "number" else set()
    clauses = _clauses(reply)
    for i, (clause, end) in enumerate(clauses):
        parts = [p for p in re.split(r"\b(?:or|either)\b", clause, flags=re.IGNORECASE) if p.strip()]
        named = [_named(p, fmt, answers, wrong, asked) for p in parts]
        if not any(named):
            if fmt == "word" and end != ":" and normalize(clause) not in FILLERS:
                return False  # an open answer must come first: "Lyon. Paris is nice." names Lyon, not Paris
            continue
        or_next = i + 1 < len(clauses) and re.match(r"or\b", clauses[i + 1][0], flags=re.IGNORECASE)
        hedged = (len(parts) > 1 and not all(named)) or bool(or_next)
        said = set().union(*named)
        return not hedged and len(said) == 1 and said <= _accepted(fmt, answers)
    return False


def judge(reply: str, probe: dict) -> bool:
    """Whether ``reply`` answers ``probe`` correctly, by the rule of the probe's format."""
    return is_correct(reply, probe["answers"], probe.get("wrong"), probe.get("format", "word"),
                      probe.get("instruction", ""))


def prompt_texts(tokenizer, probes, kind: str = "causal") -> list[str]:
    """What the model reads for each probe: its instruction in the chat template (plain for seq2seq)."""
    return [prompts.for_model(tokenizer, p["instruction"], kind) for p in probes]


@dataclass
class ProbeResult:
    """Replies and verdicts of one model on the probes, with accuracy overall and per category."""

    ids: list[str]
    categories: list[str]
    replies: list[str]
    correct: list[bool]
    seconds: float = 0.0
    per_category: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        if not self.per_category:
            self.per_category = per_category(self.categories, self.correct)

    @property
    def accuracy(self) -> float:
        """Share of all probes answered correctly (micro average)."""
        return sum(self.correct) / len(self.correct) if self.correct else 0.0

    @property
    def macro(self) -> float:
        """Mean of the per-category accuracies (each category counts the same)."""
        return sum(self.per_category.values()) / len(self.per_category) if self.per_category else 0.0


def per_category(categories: list[str], correct: list[bool]) -> dict[str, float]:
    """Accuracy per category, categories in order of first appearance."""
    if len(categories) != len(correct):
        raise ValueError(f"{len(categories)} categories but {len(correct)} verdicts")
    tally: dict[str, list[int]] = {}
    for c, ok in zip(categories, correct):
        tally.setdefault(c, [0, 0])
        tally[c][0] += int(bool(ok))
        tally[c][1] += 1
    return {c: right / n for c, (right, n) in tally.items()}


def score(replies: list[str], probes) -> ProbeResult:
    """Verdicts for replies already generated, one per probe in the same order."""
    probes = list(probes)
    if len(replies) != len(probes):
        raise ValueError(f"{len(replies)} replies for {len(probes)} probes")
    return ProbeResult(ids=[p["id"] for p in probes], categories=[p["category"] for p in probes],
                       replies=list(replies),
                       correct=[judge(r, p) for r, p in zip(replies, probes)])


def evaluate(model, tokenizer, probes, max_new_tokens: int = 16, batch_size: int = 32,
             progress: bool = True) -> ProbeResult:
    """Greedy replies of ``model`` to every probe (chat template), scored."""
    from . import generate

    probes = list(probes)
    if not probes:
        raise ValueError("no probes to evaluate")
    t0 = time.perf_counter()
    replies = generate.batch(model, tokenizer, prompt_texts(tokenizer, probes, kind_of(model)),
                             max_new_tokens=max_new_tokens, batch_size=batch_size, progress=progress)
    result = score(replies, probes)
    result.seconds = time.perf_counter() - t0
    return result


def sample(probes, limit: int = 0):
    """A balanced subset: the first ``limit`` probes taken round-robin over categories (0 = all)."""
    probes = list(probes)
    if limit < 0:
        raise ValueError(f"limit must be >= 0 (0 = all), got {limit}")
    if not limit or limit >= len(probes):
        return probes
    by_cat: dict[str, list] = {}
    for p in probes:
        by_cat.setdefault(p["category"], []).append(p)
    out, i = [], 0
    while len(out) < limit:
        for rows in by_cat.values():
            if i < len(rows) and len(out) < limit:
                out.append(rows[i])
        i += 1
    return out


def table(results: dict[str, ProbeResult]) -> str:
    """Markdown table: one row per category, one column per model, accuracies in percent."""
    names = list(results)
    cats = list(dict.fromkeys(c for r in results.values() for c in r.per_category))
    rows = ["| category | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for c in cats:
        cells = [f"{100 * results[n].per_category.get(c, float('nan')):.0f}%" for n in names]
        rows.append(f"| {c} | " + " | ".join(cells) + " |")
    rows.append("| **all** | " + " | ".join(f"**{100 * results[n].accuracy:.1f}%**" for n in names) + " |")
    return "\n".join(rows)
