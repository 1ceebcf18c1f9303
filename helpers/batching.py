"""Batches for training and evaluation: length-grouped shuffled batches and dynamic padding.

A CPU's time grows with the tokens it computes, so batches of similar length (little padding) train faster; the
order still changes every epoch, as in transformers' ``LengthGroupedSampler``.
"""

from __future__ import annotations

import math
import random

from torch.utils.data import DataLoader

from .tokenizing import Collator

MODEL_COLUMNS = ("input_ids", "attention_mask", "labels")


class LengthGroupedBatches:
    """Batches of similar length (little padding), in an order reshuffled every epoch from ``seed`` + epoch.

    Shuffle, cut into mega-batches of ``mega`` batches, sort each by length, split into batches, shuffle the batches;
    the longest batch goes first so an out-of-memory error shows at once. With ``group=False``: plain shuffled batches.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int = 0, group: bool = True, mega: int = 50):
        self.lengths, self.batch_size, self.seed, self.group, self.mega = list(lengths), batch_size, seed, group, mega
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        if not self.group:
            return [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        size = self.batch_size * self.mega
        out = []
        for start in range(0, len(order), size):
            chunk = sorted(order[start:start + size], key=lambda i: -self.lengths[i])
            out += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        rng.shuffle(out)  # batches in a new order every epoch, not always longest to shortest
        longest = max(range(len(out)), key=lambda b: max(self.lengths[i] for i in out[b]))
        out[0], out[longest] = out[longest], out[0]
        return out

    def __iter__(self):
        return iter(self.batches())

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)


def model_rows(ds) -> list[dict]:
    """The rows as plain dicts of the three model columns (from a Dataset or a list of dicts)."""
    if hasattr(ds, "column_names"):
        missing = [c for c in MODEL_COLUMNS if c not in ds.column_names]
        if missing:
            raise ValueError(f"the dataset lacks column(s) {missing}; build it with helpers.tokenizing.build_dataset")
        cols = {c: ds[c] for c in MODEL_COLUMNS}
        return [{c: cols[c][i] for c in MODEL_COLUMNS} for i in range(len(ds))]
    rows = list(ds)
    if rows and any(c not in rows[0] for c in MODEL_COLUMNS):
        raise ValueError(f"rows need {MODEL_COLUMNS}; build them with helpers.tokenizing.build / build_dataset")
    return rows


def loader(rows: list[dict], pad_token_id: int, batch_size: int, seed: int = 0, group: bool = True,
           shuffle: bool = True, multiple_of: int = 1) -> DataLoader:
    """A DataLoader with dynamic padding; training batches are length-grouped and shuffled, evaluation batches
    sorted longest first (least padding)."""
    collate = Collator(pad_token_id, multiple_of=multiple_of)
    if shuffle:
        sampler = LengthGroupedBatches([len(r["input_ids"]) for r in rows], batch_size, seed, group)
        return DataLoader(rows, batch_sampler=sampler, collate_fn=collate)
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i]["input_ids"]))
    return DataLoader([rows[i] for i in order], batch_size=batch_size, shuffle=False, collate_fn=collate)
