"""Statistics of the shipped data for its datasheet: numbers (markdown blocks) and PNG histograms.

``python -m helpers.datastats`` rewrites the statistics block (with the side-by-side comparison with DialogSum) and
the probe inventory in datasets/README.md, and the PNGs in datasets/dialogsum_pocket/; a test recomputes both
blocks and checks the datasheet still matches the data.
``python -m helpers.datastats --probes`` measures the embedded model on the forgetting probes (greedy, a few
minutes on a CPU) and rewrites the probe-baseline block.
"""

from __future__ import annotations

import re
import statistics
import sys
from pathlib import Path

from . import datacheck as dc
from .data import POCKET, ROOT, SPLITS, load_dialogsum, load_probes

SHEET = ROOT / "README.md"
BEGIN, END = "<!-- stats:begin -->", "<!-- stats:end -->"
PROBES_BEGIN, PROBES_END = "<!-- probes:begin -->", "<!-- probes:end -->"
PROBESET_BEGIN, PROBESET_END = "<!-- probeset:begin -->", "<!-- probeset:end -->"
# DialogSum's figures, measured on its published dev and test files (1,000 dialogues; test summaries are the first
# of the three references): Chen et al., 2021, "DialogSum: A Real-Life Scenario Dialogue Summarization Dataset",
# Findings of ACL-IJCNLP 2021, data at github.com/cylnlp/dialogsum (Hub: knkarthick/dialogsum).
DIALOGSUM = {
    "words per summary, mean": "20.0 (test references 18.8)",
    "summary/dialogue word ratio, mean": "0.18",
    "one-sentence summaries": "45%",
    "summaries with a digit (speaker tags aside)": "7–8%",
    "commas per summary, mean": "0.4",
    "words per summary sentence, mean": "11.5",
    "dialogues under 60 words": "14.7%",
    "dialogues under 5 turns": "9.1%",
    "dialogues with a #Person3#": "0.9%",
    "'well' / 'oh' per 1,000 dialogue tokens": "5.1 / 3.2",
    "topics: top-10 labels' share of all rows": "6.5%",
    "words per topic label, mean": "2.1",
    "topics: test rows sharing a train label": "–",
    "test references: pairwise unigram F1, mean": "0.50",
    "test references: word-count CV in a row, mean": "0.15",
    f"summary bigrams: distinct among the first {dc.DIVERSITY_BIGRAMS:,}": "–",
}


def _words(text: str) -> int:
    return len(re.sub(r"#Person\d#:", "", text).split())


def collect(folder: Path = POCKET) -> dict:
    """Per split: rows, words per dialogue and summary, turns; overall: distinct topics."""
    out, topics = {}, set()
    for split in SPLITS:
        ds = load_dialogsum("pocket", split, folder=folder)
        out[split] = {"rows": len(ds),
                      "dialogue_words": [_words(d) for d in ds["dialogue"]],
                      "summary_words": [len(s.split()) for s in ds["summary"]],
                      "turns": [len(d.split("\n")) for d in ds["dialogue"]]}
        topics |= {t.strip().lower() for t in ds["topic"]}
    out["topics"] = len(topics)
    out["compare"] = compare(folder)
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def compare(folder: Path = POCKET) -> list[tuple[str, str, str, str]]:
    """(statistic, pocket value over all splits, DialogSum dev+test, datacheck band) for the side-by-side table."""
    by_split = {s: dc.read_split(folder, s)[0] for s in SPLITS}
    rows = [r for s in SPLITS for r in by_split[s]]
    summ = [r["summary"] for r in rows]
    st = dc.split_stats(rows)
    top10, shared = dc.topic_stats(by_split)
    f1, cv = dc.reference_stats(by_split["test"])
    ref_words = statistics.mean(dc.summary_words(x) for r in by_split["test"] for x in r["references"])
    per_sentence = sum(map(dc.summary_words, summ)) / sum(len(dc.sentences(s)) for s in summ)
    split_names, corpus_names = list(dc.SPLIT_BANDS), list(dc.CORPUS_BANDS)
    measured = [  # (statistic as the table names it, pocket value, the datacheck band it is held to, if any)
        ("words per summary, mean", f"{st[split_names[0]]:.1f} (test references {ref_words:.1f})", split_names[0]),
        ("summary/dialogue word ratio, mean", f"{st[split_names[1]]:.2f}", split_names[1]),
        ("one-sentence summaries", _pct(st[split_names[2]]), split_names[2]),
        ("summaries with a digit (speaker tags aside)", _pct(st[split_names[3]]), split_names[3]),
        ("commas per summary, mean", f"{statistics.mean(s.count(',') for s in summ):.1f}", None),
        ("words per summary sentence, mean", f"{per_sentence:.1f}", None),
        ("dialogues under 60 words", _pct(st[split_names[4]]), split_names[4]),
        ("dialogues under 5 turns", _pct(st[split_names[5]]), split_names[5]),
        ("dialogues with a #Person3#", _pct(st[split_names[6]]), split_names[6]),
        ("'well' / 'oh' per 1,000 dialogue tokens", f"{st[split_names[7]]:.1f} / {st[split_names[8]]:.1f}", None),
        ("topics: top-10 labels' share of all rows", _pct(top10), corpus_names[0]),
        ("words per topic label, mean", f"{statistics.mean(len(r['topic'].split()) for r in rows):.1f}", None),
        ("topics: test rows sharing a train label", _pct(shared), corpus_names[1]),
        ("test references: pairwise unigram F1, mean", f"{f1:.2f}", corpus_names[2]),
        ("test references: word-count CV in a row, mean", f"{cv:.2f}", corpus_names[3]),
        (corpus_names[4], f"{dc.bigram_diversity(summ) or 0:,}", corpus_names[4]),
    ]
    bands = {**dc.SPLIT_BANDS, **dc.CORPUS_BANDS}
    return [(name, ours, DIALOGSUM[name], str(bands[key]) if key else "–") for name, ours, key in measured]


def _describe(values: list[int]) -> str:
    return f"{statistics.mean(values):.1f} (median {statistics.median(values):g}, {min(values)}–{max(values)})"


def block(stats: dict) -> str:
    """The markdown statistics table as it appears in the datasheet."""
    lines = [BEGIN, "| split | rows | words per dialogue: mean (median, range) | words per summary "
                    "| turns per dialogue |", "|---|---|---|---|---|"]
    for split in SPLITS:
        s = stats[split]
        lines.append(f"| {split} | {s['rows']} | {_describe(s['dialogue_words'])} | {_describe(s['summary_words'])} "
                     f"| {_describe(s['turns'])} |")
    lines += ["", f"Distinct topics across all splits: {stats['topics']}.", "",
              "| statistic | pocket (all splits) | DialogSum dev+test | band checked by `helpers.datacheck` |",
              "|---|---|---|---|"]
    lines += [f"| {name} | {ours} | {theirs} | {band} |" for name, ours, theirs, band in stats["compare"]]
    lines.append(END)
    return "\n".join(lines)


def probeset_block() -> str:
    """The probe inventory: per category, its answer formats, probes, and how many list plausible wrong answers."""
    rows = list(load_probes())
    cats: dict[str, list[dict]] = {}
    for p in rows:
        cats.setdefault(p["category"], []).append(p)
    lines = [PROBESET_BEGIN, "| category | answer format | probes | with a `wrong` list |", "|---|---|---|---|"]
    for c, ps in cats.items():
        fmts = ", ".join(sorted({p["format"] for p in ps}))
        lines.append(f"| {c} | {fmts} | {len(ps)} | {sum(bool(p['wrong']) for p in ps)} |")
    lines += [f"| **all** | | {len(rows)} | {sum(bool(p['wrong']) for p in rows)} |", PROBESET_END]
    return "\n".join(lines)


def sheet_block(path: Path = SHEET, begin: str = BEGIN, end: str = END) -> str:
    text = path.read_text(encoding="utf-8")
    start, stop = text.index(begin), text.index(end) + len(end)
    return text[start:stop]


def probe_block() -> str:
    """Measure the embedded model on every probe and format the per-category accuracy."""
    from . import models, probes

    model, tokenizer = models.load("pocket")
    return baseline_block(probes.evaluate(model, tokenizer, load_probes()))


def baseline_block(result) -> str:
    """The probe-baseline block of a ``probes.ProbeResult``: accuracy per category and overall."""
    counts = {c: result.categories.count(c) for c in result.per_category}
    lines = [PROBES_BEGIN, "| category | probes | accuracy |", "|---|---|---|"]
    lines += [f"| {c} | {counts[c]} | {100 * a:.0f}% |" for c, a in result.per_category.items()]
    lines += [f"| **all** | {len(result.correct)} | **{100 * result.accuracy:.1f}%** |", "",
              "Measured with `python -m helpers.datastats --probes` (greedy decoding, 16 new tokens, chat template).",
              PROBES_END]
    return "\n".join(lines)


def histograms(stats: dict, folder: Path = POCKET) -> list[Path]:
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    paths = []
    for key, label in (("dialogue_words", "words per dialogue"), ("summary_words", "words per summary"),
                       ("turns", "turns per dialogue")):
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.hist([stats[s][key] for s in SPLITS], bins=20, stacked=True, label=list(SPLITS))
        ax.set_xlabel(label)
        ax.set_ylabel("dialogues")
        ax.legend()
        path = folder / f"hist_{key}.png"
        fig.savefig(path, dpi=90, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    return paths


def write_block(begin: str, end: str, new: str, path: Path = SHEET) -> None:
    """Replace the datasheet's block between ``begin`` and ``end`` with ``new``."""
    path.write_text(path.read_text(encoding="utf-8").replace(sheet_block(path, begin, end), new), encoding="utf-8")


def main() -> int:
    if "--probes" in sys.argv[1:]:
        new = probe_block()
        write_block(PROBES_BEGIN, PROBES_END, new)
        print(new)
        return 0
    stats = collect()
    for begin, end, new in ((BEGIN, END, block(stats)), (PROBESET_BEGIN, PROBESET_END, probeset_block())):
        write_block(begin, end, new)
        print(new)
    for p in histograms(stats):
        print("wrote", p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
