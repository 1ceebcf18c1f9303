"""Progress bars: text bars in headless runs (papermill, CI), widgets only in a live notebook."""

from __future__ import annotations

import os


def headless() -> bool:
    return bool(os.environ.get("WORKBOOK_HEADLESS"))


def tqdm(*args, **kwargs):
    """tqdm.auto in JupyterLab; plain text tqdm when headless, so executed notebooks stay readable."""
    if headless():
        from tqdm import tqdm as bar

        kwargs.setdefault("mininterval", 5.0)
    else:
        from tqdm.auto import tqdm as bar
    return bar(*args, **kwargs)
