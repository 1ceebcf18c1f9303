"""Statistics of the shipped data for its datasheet: numbers (markdown blocks) and PNG histograms.

``python -m helpers.datastats`` rewrites the statistics block in datasets/README.md and the PNGs in
datasets/dialogsum_pocket/; a test recomputes the block and checks the datasheet still matches the data.
``python -m helpers.datastats --probes`` measures the embedded model on the forgetting probes (greedy, about a
minute on a CPU) and rewrites the probe-baseline block.
"""

from __future__ import annotations

import re
import statistics
import sys
from pathlib import Path

from .data import POCKET, ROOT, SPLITS, load_dialogsum

SHEET = ROOT / "README.md"
BEGIN, END = "<!-- stats:begin -->", "<!-- stats:end -->"
PROBES_BEGIN, PROBES_END = "<!-- probes:begin -->", "<!-- probes:end -->"


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
    return out


def _describe(values: list[int]) -> str:
    return f"{statistics.mean(values):.1f} (median {statistics.median(values):g}, {min(values)}–{max(values)})"


def block(stats: dict) -> str:
    """The markdown statistics table as it appears in the datasheet."""
    lines = [BEGIN, "| split | rows | words per dialogue: mean (median, range) | words per summary | turns per dialogue |",
             "|---|---|---|---|---|"]
    for split in SPLITS:
        s = stats[split]
        lines.append(f"| {split} | {s['rows']} | {_describe(s['dialogue_words'])} | {_describe(s['summary_words'])} "
                     f"| {_describe(s['turns'])} |")
    lines += ["", f"Distinct topics across all splits: {stats['topics']}.", END]
    return "\n".join(lines)


def sheet_block(path: Path = SHEET, begin: str = BEGIN, end: str = END) -> str:
    text = path.read_text(encoding="utf-8")
    start, stop = text.index(begin), text.index(end) + len(end)
    return text[start:stop]


def probe_block() -> str:
    """Measure the embedded model on every probe and format the per-category accuracy."""
    from . import models, probes
    from .data import load_probes

    model, tokenizer = models.load("pocket")
    rows = load_probes()
    result = probes.evaluate(model, tokenizer, rows)
    counts = {c: result.categories.count(c) for c in result.per_category}
    lines = [PROBES_BEGIN, "| category | probes | accuracy |", "|---|---|---|"]
    lines += [f"| {c} | {counts[c]} | {100 * a:.0f}% |" for c, a in result.per_category.items()]
    lines += [f"| **all** | {len(rows)} | **{100 * result.accuracy:.1f}%** |", "",
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


def main() -> int:
    if "--probes" in sys.argv[1:]:
        block_ = probe_block()
        SHEET.write_text(SHEET.read_text(encoding="utf-8").replace(sheet_block(SHEET, PROBES_BEGIN, PROBES_END), block_),
                         encoding="utf-8")
        print(block_)
        return 0
    stats = collect()
    text = SHEET.read_text(encoding="utf-8")
    new = text.replace(sheet_block(), block(stats))
    SHEET.write_text(new, encoding="utf-8")
    for p in histograms(stats):
        print("wrote", p)
    print(block(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
