"""Execute every lab headless with papermill and write runs/<UTC timestamp>/ with a summary.

``python -m helpers.runner [--preset pocket] [--labs 00,03]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import papermill as pm

from . import config, device
from .files import write_atomic
from .record import REPO, RUN_DIR_ENV

LABS = REPO / "labs"
KERNEL = "python3"
HEADLESS_ENV = {"WORKBOOK_HEADLESS": "1", "MPLBACKEND": "agg", "TRANSFORMERS_VERBOSITY": "error",
                "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONWARNINGS": "ignore"}


def lab_notebooks(select: list[str] | None = None) -> list[Path]:
    """The labs in order; ``select`` keeps those whose name starts with one of the given prefixes."""
    books = sorted(LABS.glob("[0-9][0-9]_*.ipynb"))
    if select:
        books = [b for b in books if any(b.name.startswith(s) for s in select)]
        if not books:
            raise ValueError(f"no lab matches {select}; labs are: {[b.stem for b in sorted(LABS.glob('[0-9][0-9]_*.ipynb'))]}")
    return books


def new_run_dir(root: Path = REPO / "runs") -> Path:
    """A fresh folder named by the UTC time; never reuses an earlier run's folder."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1000):
        path = root / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a new run folder under {root}")


def execute(notebook: Path, out_dir: Path, parameters: dict, timeout: int = 3600) -> Path:
    """Run one notebook with papermill (kernel python3, cwd labs/); outputs go to ``out_dir``."""
    os.environ.update(HEADLESS_ENV)
    os.environ[RUN_DIR_ENV] = str(out_dir)
    out = out_dir / notebook.name
    pm.execute_notebook(str(notebook), str(out), parameters=parameters, kernel_name=KERNEL,
                        cwd=str(notebook.parent), execution_timeout=timeout, progress_bar=False, log_output=False)
    return out


DONE_FILE = "labs_done.json"


def resumed(run: Path, preset: str, precision: str) -> tuple[Path, list[dict]]:
    """The folder of a run that stopped, and the labs it finished; refused when it was made with other settings."""
    run = Path(run).resolve()
    done_file = run / DONE_FILE
    if not done_file.exists():
        raise SystemExit(f"{run} holds no {DONE_FILE}: give the folder of a run that `make labs` started")
    summary = (run / "summary.md").read_text() if (run / "summary.md").exists() else ""
    if f"Preset: `{preset}`" not in summary or f"precision: `{precision}`" not in summary:
        raise SystemExit(f"{run} was made with other settings than preset {preset!r} and precision {precision!r} "
                         f"(see its summary.md): start a new run instead")
    done = [r for r in json.loads(done_file.read_text()) if r["status"] == "ok"]
    print(f"resuming {run.name}: keeping {', '.join(r['lab'] for r in done) or 'no lab'}", flush=True)
    return run, done


def failing_cell(exc: Exception) -> str:
    """Which cell failed, from papermill's error."""
    count = getattr(exc, "exec_count", None)
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    return f"cell [{count}] raised {ename}: {evalue}" if count is not None else f"{ename}: {evalue}"


def summarize(run: Path, results: list[dict], preset: str) -> Path:
    """``summary.md`` of a run: each lab's status, minutes and key figures, the failing cell, the figures' files."""
    lines = [f"# Workbook run {run.name}", "", f"Preset: `{preset}`; precision: `{device.precision()}`; device: "
             f"{device.describe()}", "",
             "| lab | status | minutes | key figures |", "|---|---|---|---|"]
    for r in results:
        figs = run / f"{r['lab']}.json"
        shown = ""
        if figs.exists():
            data = json.loads(figs.read_text())
            shown = ", ".join(f"{k}={_fmt(v)}" for k, v in list(data.items()) if isinstance(v, (int, float)))[:400]
        lines.append(f"| {r['lab']} | {r['status']} | {r['seconds'] / 60:.1f} | {shown} |")
    failed = [r for r in results if r["status"] != "ok"]
    if failed:
        lines += ["", f"Stopped at {failed[0]['lab']}: {failed[0]['error']}"]
    pngs = sorted(p.name for p in run.glob("*.png"))
    if pngs:
        lines += ["", "Figures: " + ", ".join(f"[{p}]({p})" for p in pngs)]
    return write_atomic(run / "summary.md", "\n".join(lines) + "\n")


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="pocket")
    ap.add_argument("--labs", default="", help="comma-separated prefixes, e.g. 00,03 (default: all)")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell")
    ap.add_argument("--precision", choices=list(device.CHOICES), default=None,
                    help="compute precision of every lab (default: $WORKBOOK_PRECISION, else auto)")
    ap.add_argument("--resume", type=Path, default=None,
                    help="continue a run that stopped: the labs it finished are kept, the rest run in its folder")
    args = ap.parse_args(argv)
    config.get(args.preset)  # unknown preset: clear error before anything runs
    if args.precision:
        os.environ[device.ENV] = args.precision  # the lab kernels inherit it
    precision = device.precision()  # an impossible choice (bf16 without the hardware) stops here, with the reason
    books = lab_notebooks([s for s in args.labs.split(",") if s])
    results, t_all = [], time.perf_counter()
    if args.resume:
        run, results = resumed(args.resume, args.preset, precision)
        books = [b for b in books if b.stem not in {r["lab"] for r in results}]
    else:
        run = new_run_dir()
    print(f"run folder: {run}  (preset {args.preset}, precision {precision}, {len(books)} lab(s) to run)", flush=True)
    for i, book in enumerate(books, 1):
        print(f"[{i}/{len(books)}] {book.stem} ...", flush=True)
        t0 = time.perf_counter()
        try:
            execute(book, run, {"preset": args.preset}, args.timeout)
            results.append({"lab": book.stem, "status": "ok", "seconds": time.perf_counter() - t0})
            write_atomic(run / DONE_FILE, json.dumps(results, indent=1))  # what --resume keeps
            print(f"[{i}/{len(books)}] {book.stem} done in {(time.perf_counter() - t0) / 60:.1f} min "
                  f"(total {(time.perf_counter() - t_all) / 60:.1f} min)", flush=True)
        except Exception as e:  # papermill's error names the cell; earlier results stay on disk
            results.append({"lab": book.stem, "status": "failed", "seconds": time.perf_counter() - t0,
                            "error": failing_cell(e)})
            summarize(run, results, args.preset)
            print(f"[{i}/{len(books)}] {book.stem} FAILED: {failing_cell(e)}\n"
                  f"executed notebook with the error: {run / book.name}", file=sys.stderr, flush=True)
            return 1
    write_atomic(run / "timings.json", json.dumps({r["lab"]: r["seconds"] for r in results}, indent=2))
    print(f"summary: {summarize(run, results, args.preset)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
