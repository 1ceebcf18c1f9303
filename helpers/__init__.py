"""Shared helpers for the instruction fine-tuning workbook.

One module per concern; the labs import what they need, e.g. ``from helpers import config, models``.
"""

__version__ = "0.1.0"
