"""Benchmarks of the workbook: side-by-side ratios measured in one run (``python -m bench.run``, ``make bench``)."""
