"""Rewrite the labs' runtime tables from measured runs: ``python scripts/runtimes.py runs/<pocket run> [runs/<smoke run>]``.

Without a smoke run, the smoke rows say they were not timed with this run (an older smoke time would describe cells
that may have changed since).

Each lab's intro holds a block between ``<!-- runtime -->`` and ``<!-- /runtime -->`` with the whole notebook's wall
time, and a "⏱ Runtime of the next cell" markdown cell before every long cell. Both are filled from the executed
notebooks of a ``make labs`` run (papermill stores every cell's duration) and the run's ``timings.json``; the CPU
model and the precision come from the run's ``summary.md``. Cells are matched by their id, so neither the parameters
cell papermill injects nor a later edit of a cell's text shifts them.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NEXT_CELL = "⏱ **Runtime of the next cell**"


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def durations(run: Path, lab: str) -> dict[str, float]:
    """Seconds each code cell took in the executed notebook, keyed by its cell id (ids survive edits of the source)."""
    nb = json.loads((run / f"{lab}.ipynb").read_text())
    return {c["id"]: c["metadata"]["papermill"]["duration"] for c in nb["cells"]
            if c["cell_type"] == "code" and c.get("metadata", {}).get("papermill", {}).get("duration") is not None}


def took_seconds(took: dict[str, float], cell: dict, run: Path, lab: str) -> float:
    """The time one cell took in a run; an error, never a made-up 0, when the run did not execute that cell."""
    if cell.get("id") not in took:
        raise KeyError(f"{lab}: cell {cell.get('id')!r} was not executed in {run} (added after that run?); "
                       f"time it with a new `make labs` run and pass that run's folder")
    return took[cell["id"]]


def run_facts(run: Path) -> tuple[str, str]:
    """(device line, precision) from a run's summary.md."""
    text = (run / "summary.md").read_text()
    m = re.search(r"precision: `([^`]+)`; device: (.+)", text)
    return (m.group(2).strip(), m.group(1)) if m else ("unknown device", "unknown")


NOT_TIMED = "| `smoke` (CI) | not timed with this run |"


def intro_block(pocket: Path, smoke: Path | None, lab: str) -> str:
    pocket_s = json.loads((pocket / "timings.json").read_text())[lab]
    dev, precision = run_facts(pocket)
    if smoke is not None:
        smoke_row = f"| `smoke` (CI) | {_minutes(json.loads((smoke / 'timings.json').read_text())[lab])} (run `{smoke.name}`) |"
    else:
        smoke_row = NOT_TIMED
    return ("<!-- runtime -->\n**Runtime** (whole notebook, measured with `make labs`)\n\n"
            "| preset | wall time |\n|---|---|\n"
            f"| `pocket` (default) | {_minutes(pocket_s)} (run `{pocket.name}`, {precision}) |\n"
            f"{smoke_row}\n\n"
            f"Measured on {dev}; expect about 1.5x either way on other laptop CPUs, "
            + ("and more on CPUs without fast bf16 (they compute in fp32). " if precision == "bf16" else
               "and less on CPUs with fast bf16 (AVX-512 BF16 or AMX), which compute in bf16 (README, Precision). ")
            + "The GPU presets (`course`, `modern`) have not been timed end to end yet.\n"
            "<!-- /runtime -->")


def update(lab_path: Path, pocket: Path, smoke: Path | None) -> int:
    """Rewrite one lab's tables; returns how many were rewritten."""
    lab = lab_path.stem
    nb = json.loads(lab_path.read_text())
    took = {name: durations(run, lab) for name, run in (("pocket", pocket), ("smoke", smoke)) if run is not None}
    changed = 0
    for i, cell in enumerate(nb["cells"]):
        text = _source(cell)
        if "<!-- runtime -->" in text:
            new = re.sub(r"<!-- runtime -->.*?<!-- /runtime -->", lambda _: intro_block(pocket, smoke, lab), text,
                         flags=re.S)
        elif cell["cell_type"] == "markdown" and text.startswith(NEXT_CELL):
            following = next(c for c in nb["cells"][i + 1:] if c["cell_type"] == "code")
            if smoke is not None:
                smoke_s = took_seconds(took["smoke"], following, smoke, lab)
                smoke_name, smoke_row = smoke.name, f"| `smoke` (CI) | {_minutes(smoke_s)} |"
            else:
                smoke_name, smoke_row = None, NOT_TIMED
            runs = f"run `{pocket.name}` for pocket" + (f", `{smoke_name}` for smoke" if smoke_name else "")
            new = (f"{NEXT_CELL} (measured; {runs})\n\n"
                   "| preset | laptop-class CPU, 2 cores |\n|---|---|\n"
                   f"| `pocket` | {_minutes(took_seconds(took['pocket'], following, pocket, lab))} |\n"
                   f"{smoke_row}")
        else:
            continue
        if new != text:
            cell["source"] = new.splitlines(keepends=True)
            changed += 1
    lab_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return changed


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    pocket = Path(argv[0]).resolve()
    smoke = Path(argv[1]).resolve() if len(argv) == 2 else None
    for run in (pocket, smoke):
        if run is not None and not (run / "timings.json").exists():
            print(f"{run} has no timings.json: give the folder of a complete `make labs` run", file=sys.stderr)
            return 2
    for lab in sorted((REPO / "labs").glob("[0-9][0-9]_*.ipynb")):
        print(f"{lab.name}: {update(lab, pocket, smoke)} table(s) rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
