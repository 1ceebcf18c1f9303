"""Where a run's outputs go, and the figures each lab hands to tests and reports."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from . import device
from .files import write_atomic  # noqa: F401  (record.write_atomic: the same writer, for callers of record)

REPO = Path(__file__).resolve().parent.parent
RUN_DIR_ENV = "WORKBOOK_RUN_DIR"
ARTIFACT_FILE = "artifact.json"


def run_dir() -> Path:
    """This run's folder: $WORKBOOK_RUN_DIR (set by the runner and the tests), else runs/interactive."""
    path = Path(os.environ.get(RUN_DIR_ENV) or REPO / "runs" / "interactive")
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifacts_dir(preset) -> Path:
    """Models and datasets that one lab hands to the next: ``<run folder>/artifacts/<preset name>``, one folder per
    preset, so a model fine-tuned under one preset is never picked up under another."""
    name = getattr(preset, "name", preset)
    if not isinstance(name, str) or not name:
        raise ValueError(f"artifacts_dir needs the preset (or its name), got {preset!r}")
    path = run_dir() / "artifacts" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


class ArtifactMismatch(ValueError):
    """An artifact in the run folder was made for another model or model kind than the one asked for."""


def _made_for(preset) -> dict:
    return {"preset": preset.name, "model_kind": preset.model_kind, "model": preset.model}


def mark_artifact(folder: str | Path, preset) -> Path:
    """Write ``artifact.json`` ({preset, model_kind, model}) beside a saved model, adapter or dataset."""
    return write_atomic(Path(folder) / ARTIFACT_FILE, json.dumps(_made_for(preset), indent=1))


def artifact_ready(folder: str | Path, preset, marker: str) -> bool:
    """Whether ``folder`` holds a finished artifact (its ``marker`` file, e.g. model.safetensors) made for ``preset``'s
    model. False when there is none (the lab makes it); ArtifactMismatch when it was made for another model or kind."""
    folder = Path(folder)
    if not (folder / marker).exists():
        return False
    info_file = folder / ARTIFACT_FILE
    if not info_file.exists():
        raise ArtifactMismatch(f"{folder} holds a {marker} but no {ARTIFACT_FILE} saying which model it was made for; "
                               f"delete the folder (the lab then rebuilds it) or set {RUN_DIR_ENV} to a fresh folder")
    made, wanted = json.loads(info_file.read_text()), _made_for(preset)
    for key in ("model_kind", "model"):
        if made.get(key) != wanted[key]:
            raise ArtifactMismatch(
                f"{folder} was made for {made.get('model_kind')} model {made.get('model')!r} (preset "
                f"{made.get('preset')!r}), but this run uses {wanted['model_kind']} model {wanted['model']!r} (preset "
                f"{wanted['preset']!r}); refusing to load it. Delete the folder (the lab then rebuilds it) or set "
                f"{RUN_DIR_ENV} to a fresh folder")
    return True


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
