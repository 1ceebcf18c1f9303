"""Checks the pocket dialogue dataset against its datasheet rules.

Run ``python -m helpers.datacheck [folder]``: prints every problem found and exits 1 if any.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from pathlib import Path

SPLITS = ("train", "validation", "test")
MIN_ROWS = {"train": 600, "validation": 60, "test": 150}
TURN_RE = re.compile(r"^#Person[1-3]#: \S")
TURNS = (5, 20)
WORDS = (60, 250)
MAX_JACCARD = 0.3
MIN_TOPICS = 150


def words(text: str) -> list[str]:
    """Lower-cased word tokens, speaker tags kept as one token."""
    return re.findall(r"#person\d#|[a-z0-9']+", text.lower())


def shingles(text: str, n: int = 5) -> frozenset:
    toks = words(text)
    return frozenset(tuple(toks[i : i + n]) for i in range(len(toks) - n + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def read_rows(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{n}: not valid JSON ({e})") from e
    return rows


def check_row(row: dict, split: str) -> list[str]:
    """Problems with one row (empty list when it is fine)."""
    rid = row.get("id", "?")
    fields = ["id", "dialogue", "summary", "topic"] + (["references"] if split == "test" else [])
    errs = [f"{rid}: missing or non-string field '{k}'" for k in fields[:4] if not isinstance(row.get(k), str) or not row.get(k).strip()]
    if errs:
        return errs
    extra = set(row) - set(fields)
    if extra:
        errs.append(f"{rid}: unexpected fields {sorted(extra)}")
    turns = row["dialogue"].split("\n")
    bad = [t for t in turns if not TURN_RE.match(t)]
    if bad:
        errs.append(f"{rid}: lines without a '#PersonN#: ' tag: {bad[:2]}")
    if not TURNS[0] <= len(turns) <= TURNS[1]:
        errs.append(f"{rid}: {len(turns)} turns, want {TURNS[0]}-{TURNS[1]}")
    n_words = len(re.sub(r"#Person\d#:", "", row["dialogue"]).split())
    if not WORDS[0] <= n_words <= WORDS[1]:
        errs.append(f"{rid}: {n_words} words, want {WORDS[0]}-{WORDS[1]}")
    if len(row["summary"].split()) >= n_words:
        errs.append(f"{rid}: summary is not shorter than its dialogue")
    if not 1 <= len(row["topic"].split()) <= 4:
        errs.append(f"{rid}: topic '{row['topic']}' should be 1-4 words")
    if split == "test":
        refs = row.get("references")
        if not (isinstance(refs, list) and len(refs) == 3 and all(isinstance(r, str) and r.strip() for r in refs)):
            errs.append(f"{rid}: 'references' must be a list of three non-empty strings")
        elif refs[0] != row["summary"]:
            errs.append(f"{rid}: references[0] must equal summary")
    return errs


def near_duplicates(rows: list[dict], field: str) -> list[str]:
    sh = [(r["id"], shingles(r[field])) for r in rows]
    out = []
    for (ia, a), (ib, b) in itertools.combinations(sh, 2):
        j = jaccard(a, b)
        if j >= MAX_JACCARD:
            out.append(f"{ia} ~ {ib}: {field} 5-gram Jaccard {j:.2f} >= {MAX_JACCARD}")
    return out


def check_folder(folder: Path, min_rows: dict | None = None) -> list[str]:
    """All problems in a dataset folder; an empty list means it passes."""
    min_rows = MIN_ROWS if min_rows is None else min_rows
    errs, all_rows, seen_ids, where = [], [], set(), {}
    for split in SPLITS:
        path = folder / f"{split}.jsonl"
        if not path.exists():
            errs.append(f"{path}: missing")
            continue
        rows = read_rows(path)
        if len(rows) < min_rows.get(split, 0):
            errs.append(f"{split}: {len(rows)} rows, want at least {min_rows[split]}")
        for row in rows:
            errs += check_row(row, split)
            if row.get("id") in seen_ids:
                errs.append(f"{row.get('id')}: duplicate id")
            seen_ids.add(row.get("id"))
            d = row.get("dialogue")
            if d in where and where[d] != split:
                errs.append(f"{row.get('id')}: dialogue also appears in {where[d]}")
            where[d] = split
        all_rows += [r for r in rows if isinstance(r.get("dialogue"), str) and isinstance(r.get("summary"), str)]
    topics = {r.get("topic", "").strip().lower() for r in all_rows}
    if min_rows and len(topics) < MIN_TOPICS:
        errs.append(f"{len(topics)} distinct topics, want at least {MIN_TOPICS}")
    errs += near_duplicates(all_rows, "dialogue") + near_duplicates(all_rows, "summary")
    return errs


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "datasets" / "dialogsum_pocket"
    shard = len(argv) > 1 and argv[1] == "--shard"
    errs = check_folder(folder, min_rows={} if shard else None)
    for e in errs:
        print(e)
    print(f"{len(errs)} problem(s) in {folder}")
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
