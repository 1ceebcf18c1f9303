"""Where the workbook runs (Colab, a GPU, a laptop CPU): which preset suits it, and where the run folder is kept.

Each lab calls ``advise(cfg)`` once, right after picking the device: it prints a line when another preset would
suit this machine better, and on Colab it keeps the run folder on Google Drive when Drive is mounted, so that the
artifacts and figures of one lab reach the next (each Colab notebook runs on a machine of its own).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from . import config, memory
from .record import RUN_DIR_ENV

GIB = 2**30
# The Hub presets' models as their config.json files give them, for a memory check before anything is downloaded.
# FLAN-T5-base counts its 12 encoder and 12 decoder layers together.
HUB_MODELS = {
    "google/flan-t5-base": dict(params=248_000_000, hidden=768, layers=24, heads=12, vocab=32128, intermediate=2048),
    "HuggingFaceTB/SmolLM2-360M-Instruct": dict(params=362_000_000, hidden=960, layers=32, heads=15, vocab=49152,
                                                intermediate=2560),
}
GPU_PRESETS = {"course": "FLAN-T5-base, the course's setup", "modern": "SmolLM2-360M-Instruct"}  # in this order
DRIVE = Path("/content/drive/MyDrive")
DRIVE_RUN_DIR = DRIVE / "instruction-finetuning-workbook" / "run"


def on_colab() -> bool:
    """True inside a Google Colab kernel."""
    return "google.colab" in sys.modules


def gpu() -> tuple[str, float] | None:
    """(name, GiB of memory) of CUDA device 0, or None without a CUDA GPU."""
    import torch

    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    return props.name, props.total_memory / GIB


def needed_gib(preset: config.Preset) -> float | None:
    """GPU memory (GiB) full fine-tuning of the preset's Hub model needs in fp32 at its batch size: an estimate."""
    spec = HUB_MODELS.get(preset.model)
    if spec is None:
        return None
    spec = dict(spec)
    seq = preset.max_source_tokens + preset.max_target_tokens
    activations = memory.activation_bytes(preset.batch_size, seq, **{k: spec.pop(k) for k in
                                          ("hidden", "layers", "heads", "vocab", "intermediate")})
    return memory.estimate(spec["params"], activations=activations).total / GIB


def suggest_preset(preset: str | config.Preset, gpu_info: tuple[str, float] | None = ...) -> str | None:
    """One line when another preset suits this machine better than ``preset``; None when it suits it."""
    cfg = config.get(preset) if isinstance(preset, str) else preset
    info = gpu() if gpu_info is ... else gpu_info
    if info is None:
        if cfg.data == "hub":
            return (f"No GPU here: preset {cfg.name!r} fine-tunes {cfg.model} on the CPU, which takes hours. "
                    f'preset = "pocket" runs every lab on a CPU in minutes (on Colab: Runtime > Change runtime type > GPU).')
        return None
    name, gib = info
    if cfg.data == "hub":
        need = needed_gib(cfg)
        if need is not None and gib < need:
            return (f"{name} has {gib:.0f} GiB; full fine-tuning of {cfg.model} needs about {need:.0f} GiB: "
                    f"lower batch_size in the parameters cell, or use a GPU with more memory.")
        return None
    fits = [p for p in GPU_PRESETS if (needed_gib(config.get(p)) or 0) <= gib]
    if not fits:
        return None
    names = " or ".join(f"{p!r} ({GPU_PRESETS[p]})" for p in fits)
    return (f"A GPU is here ({name}, {gib:.0f} GiB): preset {names} suits it, on DialogSum from the Hugging Face "
            f'Hub. Set preset = "{fits[0]}" in the parameters cell.')


def run_dir_note(drive: Path = DRIVE) -> str | None:
    """On Colab: keep the run folder on Drive when Drive is mounted, else say that results stay on this machine."""
    if not on_colab():
        return None
    if os.environ.get(RUN_DIR_ENV):
        return f"run folder: {os.environ[RUN_DIR_ENV]} (from {RUN_DIR_ENV})"
    if drive.is_dir():
        folder = drive / DRIVE_RUN_DIR.relative_to(DRIVE)
        os.environ[RUN_DIR_ENV] = str(folder)
        return f"run folder on Google Drive: {folder}: later labs find this lab's results there"
    return ("Each Colab notebook runs on a machine of its own: results of earlier labs are not here unless the run "
            "folder is on Google Drive. Mount Drive (Files pane > Mount Drive, or google.colab.drive.mount('/content/drive')) "
            "and rerun this cell to keep them there; otherwise a lab rebuilds what it needs.")


def advise(preset: str | config.Preset) -> list[str]:
    """Print, and return, the preset hint and the Colab run-folder note that apply here (often none)."""
    notes = [n for n in (suggest_preset(preset), run_dir_note()) if n]
    for note in notes:
        print(note)
    return notes
