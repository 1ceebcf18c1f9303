"""Progress bars: text bars in headless runs (papermill, CI), widgets only in a live notebook."""

from __future__ import annotations

import os

from tqdm import tqdm as text_bar
from tqdm.auto import tqdm as auto_bar


def headless() -> bool:
    """True in papermill runs and CI (the runner sets WORKBOOK_HEADLESS)."""
    return bool(os.environ.get("WORKBOOK_HEADLESS"))


def tqdm(*args, **kwargs):
    """tqdm.auto in JupyterLab; plain text tqdm when headless, so executed notebooks stay readable."""
    if headless():
        kwargs.setdefault("mininterval", 5.0)
        return text_bar(*args, **kwargs)
    return auto_bar(*args, **kwargs)
