"""Copy a full run's figures into results/ and show them in every lab's intro: ``python scripts/results.py runs/<run>``.

``make results RUN=runs/<run>`` does the same. It copies each lab's ``<lab>.json`` and main plot, the run's
``summary.md`` and ``timings.json`` into ``results/``,
writes ``results/README.md`` (every lab's key figures and comparisons, with the plots), and rewrites the block
between ``<!-- results -->`` and ``<!-- /results -->`` in each lab's first cell, so a learner reads what the reference
run found before running anything. ``tests/test_results.py`` checks that the committed blocks match the committed
JSON they were made from.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from helpers.record import reference_markdown  # noqa: E402

RESULTS = REPO / "results"
MAIN_PLOT = {"01_in_context_learning_limits": "01_rouge_vs_k.png", "02_building_instruction_datasets": "02_length_histograms.png",
             "03_full_fine_tuning_with_accelerate": "03_loss_curves.png", "04_rouge_before_and_after": "04_rouge_before_after.png",
             "05_catastrophic_forgetting": "05_probes_vs_rouge.png", "06_peft_lora": "06_rank_sweep.png"}
BLOCK = re.compile(r"<!-- results -->.*?<!-- /results -->", re.S)


def block(lab: str, results: Path = RESULTS) -> str:
    """The intro block of one lab, made from results/<lab>.json (and its plot, when there is one)."""
    figures = json.loads((results / f"{lab}.json").read_text())
    run = json.loads((results / "run.json").read_text())["run"]
    text = reference_markdown(lab, figures, run)
    if lab in MAIN_PLOT:
        text += f"\n![the reference run's main plot](../results/{MAIN_PLOT[lab]})\n"
    return f"<!-- results -->\n{text}<!-- /results -->"


def rewrite(lab_path: Path, results: Path = RESULTS) -> bool:
    """Put the lab's results block in its first cell (after the runtime block); True when the cell changed."""
    nb = json.loads(lab_path.read_text())
    cell = nb["cells"][0]
    text = "".join(cell["source"])
    new_block = block(lab_path.stem, results)
    if BLOCK.search(text):
        new = BLOCK.sub(lambda _: new_block, text)
    elif "<!-- /runtime -->" in text:
        new = text.replace("<!-- /runtime -->", "<!-- /runtime -->\n\n" + new_block, 1)
    else:
        new = text.rstrip("\n") + "\n\n" + new_block + "\n"
    if new == text:
        return False
    cell["source"] = new.splitlines(keepends=True)
    lab_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return True


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    run = Path(argv[0]).resolve()
    labs = sorted((REPO / "labs").glob("[0-9][0-9]_*.ipynb"))
    missing = [lab.stem for lab in labs if not (run / f"{lab.stem}.json").exists()]
    if missing or not (run / "timings.json").exists():
        print(f"{run} is not a complete run (missing: {missing or 'timings.json'}); give the folder of a complete "
              "`make labs` run", file=sys.stderr)
        return 2
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "run.json").write_text(json.dumps({"run": run.name}, indent=1) + "\n")
    shutil.copy(run / "summary.md", RESULTS / "summary.md")
    shutil.copy(run / "timings.json", RESULTS / "timings.json")  # per-lab wall time: `make bench` reads it
    readme = [f"# Reference results (run `{run.name}`)", "",
              "Made by `make results RUN=runs/<run>` from a full `make labs` run; each lab's intro shows its part.", ""]
    for lab in labs:
        shutil.copy(run / f"{lab.stem}.json", RESULTS / f"{lab.stem}.json")
        if lab.stem in MAIN_PLOT:
            shutil.copy(run / MAIN_PLOT[lab.stem], RESULTS / MAIN_PLOT[lab.stem])
        readme += [f"## {lab.stem}", "", block(lab.stem).replace("../results/", ""), ""]
        print(f"{lab.name}: {'rewritten' if rewrite(lab) else 'unchanged'}")
    (RESULTS / "README.md").write_text("\n".join(readme))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
