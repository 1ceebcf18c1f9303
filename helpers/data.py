"""Load the dialogue data (the project's pocket JSONL or DialogSum from the Hub) and the forgetting probes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from datasets import Dataset

ROOT = Path(__file__).resolve().parent.parent / "datasets"
POCKET = ROOT / "dialogsum_pocket"
PROBES = ROOT / "forgetting_probes" / "probes.jsonl"
SPLITS = ("train", "validation", "test")
HUB_NAME = "knkarthick/dialogsum"
COLUMNS = ("id", "dialogue", "summary", "topic", "references")
_DIALOGUE_FIELDS = ("id", "dialogue", "summary", "topic")
_PROBE_FIELDS = ("id", "category", "instruction")


class DataError(ValueError):
    """A malformed row: the message names the file, the line and the field."""


@dataclass
class Report:
    """What was skipped while reading, and why (only when skipping was asked for)."""

    path: str
    rows: int = 0
    skipped: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        head = f"{self.path}: {self.rows} rows read, {len(self.skipped)} skipped"
        return head + "".join(f"\n  {s}" for s in self.skipped)


def _check_dialogue_row(row, where: str) -> dict:
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    for key in _DIALOGUE_FIELDS:
        if key not in row:
            raise DataError(f"{where}: missing field '{key}'")
        if not isinstance(row[key], str):
            raise DataError(f"{where}: field '{key}' must be a string, got {type(row[key]).__name__}")
    for key in ("dialogue", "summary"):
        if not row[key].strip():
            raise DataError(f"{where}: field '{key}' is empty")
    refs = row.get("references", [row["summary"]])
    if not (isinstance(refs, list) and refs and all(isinstance(r, str) and r.strip() for r in refs)):
        raise DataError(f"{where}: field 'references' must be a non-empty list of non-empty strings")
    return {"id": row["id"], "dialogue": row["dialogue"], "summary": row["summary"], "topic": row["topic"], "references": refs}


def _check_probe_row(row, where: str) -> dict:
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    for key in _PROBE_FIELDS:
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise DataError(f"{where}: field '{key}' must be a non-empty string")
    for key in ("answers", "wrong"):
        value = row.get(key, [] if key == "wrong" else None)
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise DataError(f"{where}: field '{key}' must be a list of non-empty strings")
    if not row["answers"]:
        raise DataError(f"{where}: field 'answers' is empty")
    return {"id": row["id"], "category": row["category"], "instruction": row["instruction"],
            "answers": row["answers"], "wrong": row.get("wrong", [])}


def read_jsonl(path: str | Path, check=_check_dialogue_row, skip_bad: bool = False) -> tuple[list[dict], Report]:
    """Rows of a JSONL file, each checked; a bad row raises DataError unless ``skip_bad`` (then it is reported)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    rows, report = [], Report(str(path))
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}, line {n}"
            try:
                try:
                    raw = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from e
                rows.append(check(raw, where))
            except DataError as e:
                if not skip_bad:
                    raise
                report.skipped.append(str(e))
    report.rows = len(rows)
    if report.skipped:
        print(report)
    return rows, report


def _limit(rows: list[dict], limit: int | None) -> list[dict]:
    if limit is None:
        return rows
    if not isinstance(limit, int) or limit <= 0:
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    return rows[:limit]


def load_dialogsum(source: str = "pocket", split: str = "train", limit: int | None = None,
                   skip_bad: bool = False, folder: str | Path | None = None) -> Dataset:
    """A split of dialogues with columns id, dialogue, summary, topic, references (same either source)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    if source == "pocket":
        rows, _ = read_jsonl(Path(folder or POCKET) / f"{split}.jsonl", skip_bad=skip_bad)
        return Dataset.from_list(_limit(rows, limit))
    if source == "hub":
        return _load_hub(split, limit)
    raise ValueError(f"unknown data source {source!r}; choose 'pocket' (offline, shipped) or 'hub' ({HUB_NAME})")


def _load_hub(split: str, limit: int | None) -> Dataset:
    from datasets import load_dataset

    try:
        ds = load_dataset(HUB_NAME, split=split)
    except Exception as e:  # the datasets library raises many kinds of error when offline
        raise ConnectionError(f"could not load {HUB_NAME} from the Hugging Face Hub (is it reachable from here?); "
                              f"the 'pocket' data works offline. Original error: {type(e).__name__}: {e}") from e
    rows = [_check_dialogue_row({k: r[k] for k in _DIALOGUE_FIELDS}, f"{HUB_NAME}[{split}][{i}]")
            for i, r in enumerate(ds)]
    return Dataset.from_list(_limit(rows, limit))


def load(preset, split: str, limit: int | None = None) -> Dataset:
    """The split of the preset's data source."""
    return load_dialogsum(preset.data, split, limit)


def load_probes(path: str | Path = PROBES, limit: int | None = None, skip_bad: bool = False) -> Dataset:
    """The forgetting probes: id, category, instruction, answers, wrong."""
    rows, _ = read_jsonl(path, check=_check_probe_row, skip_bad=skip_bad)
    return Dataset.from_list(_limit(rows, limit))
