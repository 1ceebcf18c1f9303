"""Where a run's outputs go, and the figures each lab hands to tests and reports."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from . import device

REPO = Path(__file__).resolve().parent.parent
RUN_DIR_ENV = "WORKBOOK_RUN_DIR"


def run_dir() -> Path:
    """This run's folder: $WORKBOOK_RUN_DIR (set by the runner and the tests), else runs/interactive."""
    path = Path(os.environ.get(RUN_DIR_ENV) or REPO / "runs" / "interactive")
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifacts_dir() -> Path:
    """Models and datasets that one lab hands to the next, inside the run folder."""
    path = run_dir() / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_atomic(path: str | Path, text: str) -> Path:
    """Write a text file so that a run killed mid-write leaves the previous version intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _plain(value):
    """JSON-safe copy: numpy/torch scalars to Python numbers; NaN and inf refused."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"refusing to record a non-finite number ({value}); fix the computation that produced it")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def record(lab: str, **figures) -> Path:
    """Save a lab's key figures as JSON beside its executed notebook: ``<run_dir>/<lab>.json``.

    The precision the lab computed in (``helpers.device`` policy) is recorded with them as ``precision``.
    """
    if not figures:
        raise ValueError("record() needs at least one figure, e.g. record('00_setup', load_seconds=0.3)")
    figures.setdefault("precision", device.precision())
    path = write_atomic(run_dir() / f"{lab}.json", json.dumps(_plain(figures), indent=2, sort_keys=True))
    print(f"recorded {len(figures)} figure(s) in {path}")
    return path


def load(lab: str, folder: str | Path | None = None) -> dict:
    """The figures a lab recorded."""
    return json.loads((Path(folder) if folder else run_dir()).joinpath(f"{lab}.json").read_text())
