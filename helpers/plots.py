"""Save figures into the run folder so `make labs` keeps them beside the executed notebook."""

from __future__ import annotations

from pathlib import Path

from .record import run_dir


def save(fig, name: str) -> Path:
    """Save a matplotlib figure as ``<run_dir>/<name>.png`` and return the path."""
    path = run_dir() / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path
