"""Load the dialogue data (the project's pocket JSONL or DialogSum from the Hub) and the forgetting probes."""

from __future__ import annotations

import json
from pathlib import Path

from datasets import Dataset, load_dataset

ROOT = Path(__file__).resolve().parent.parent / "datasets"
POCKET = ROOT / "dialogsum_pocket"
PROBES = ROOT / "forgetting_probes" / "probes.jsonl"
SPLITS = ("train", "validation", "test")
HUB_NAME = "knkarthick/dialogsum"
COLUMNS = ("id", "dialogue", "summary", "topic", "references")
_DIALOGUE_FIELDS = ("id", "dialogue", "summary", "topic")
_PROBE_FIELDS = ("id", "category", "format", "instruction")


class DataError(ValueError):
    """A malformed row: the message names the file, the line and the field."""


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
    return {"id": row["id"], "category": row["category"], "format": row["format"], "instruction": row["instruction"],
            "answers": row["answers"], "wrong": row.get("wrong", [])}


def _parse(line: str, where: str):
    try:
        return json.loads(line)
    except json.JSONDecodeError as e:
        raise DataError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from e


def read_jsonl(path: str | Path, check=_check_dialogue_row, skipped: list[str] | None = None) -> list[dict]:
    """Rows of a JSONL file, each checked; a bad row raises DataError naming the file, line and field.

    A checker that wants every problem passes a list as ``skipped``: bad rows are then left out and their errors
    appended to it.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}, line {n}"
            try:
                rows.append(check(_parse(line, where), where))
            except DataError as e:
                if skipped is None:
                    raise
                skipped.append(str(e))
    return rows


def _limit(rows: list[dict], limit: int | None) -> list[dict]:
    if limit is None:
        return rows
    if not isinstance(limit, int) or limit <= 0:
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    return rows[:limit]


def load_dialogsum(source: str = "pocket", split: str = "train", limit: int | None = None,
                   folder: str | Path | None = None) -> Dataset:
    """A split of dialogues with columns id, dialogue, summary, topic, references (same either source)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    if source == "pocket":
        rows = read_jsonl(Path(folder or POCKET) / f"{split}.jsonl")
        return Dataset.from_list(_limit(rows, limit))
    if source == "hub":
        return _load_hub(split, limit)
    raise ValueError(f"unknown data source {source!r}; choose 'pocket' (offline, shipped) or 'hub' ({HUB_NAME})")


def _load_hub(split: str, limit: int | None) -> Dataset:
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


def load_probes(path: str | Path = PROBES, limit: int | None = None) -> Dataset:
    """The forgetting probes: id, category, format (how a reply is scored), instruction, answers, wrong."""
    rows = read_jsonl(path, check=_check_probe_row)
    return Dataset.from_list(_limit(rows, limit))
