"""Checkpoint I/O for the training loop: ``accelerator.save_state`` into ``<output_dir>/checkpoints/step_NNNNNN``.

A checkpoint is written to ``step_N.tmp`` and renamed once complete (its state file last), so a run killed while
saving leaves the previous checkpoint intact and an incomplete one is never resumed from.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .files import write_atomic

STATE_FILE = "trainer_state.json"


def checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints in ``output_dir/checkpoints``, oldest first (a folder counts once its state file exists)."""
    root = Path(output_dir) / "checkpoints"
    if not root.exists():
        return []
    return sorted(p for p in root.glob("step_*")
                  if p.is_dir() and not p.name.endswith(".tmp") and (p / STATE_FILE).exists())


def save(accelerator, output_dir: str | Path, state: dict, keep: int) -> Path:
    """save_state into a temporary folder, write ``state`` beside it, rename; keep the newest ``keep`` checkpoints."""
    root = Path(output_dir) / "checkpoints"
    final = root / f"step_{state['step']:06d}"
    tmp = root / (final.name + ".tmp")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_atomic(tmp / STATE_FILE, json.dumps(state))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        for old in checkpoints(output_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def load(accelerator, checkpoint: Path) -> dict:
    """Restore model, optimizer, scheduler and RNG states from ``checkpoint``; returns the loop state saved with it."""
    accelerator.load_state(str(checkpoint))
    return json.loads((Path(checkpoint) / STATE_FILE).read_text())
