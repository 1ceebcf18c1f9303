"""Where a run's outputs go, and the figures each lab hands to tests and reports."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from . import device, generate, metrics
from .files import write_atomic  # noqa: F401  (record.write_atomic: the same writer, for callers of record)

REPO = Path(__file__).resolve().parent.parent
RUN_DIR_ENV = "WORKBOOK_RUN_DIR"
ARTIFACT_FILE = "artifact.json"


def run_dir() -> Path:
    """This run's folder: $WORKBOOK_RUN_DIR (set by the runner and the tests), else runs/interactive."""
    path = Path(os.environ.get(RUN_DIR_ENV) or REPO / "runs" / "interactive")
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifacts_dir(preset) -> Path:
    """Models and datasets that one lab hands to the next: ``<run folder>/artifacts/<preset name>``, one folder per
    preset, so a model fine-tuned under one preset is never picked up under another."""
    name = getattr(preset, "name", preset)
    if not isinstance(name, str) or not name:
        raise ValueError(f"artifacts_dir needs the preset (or its name), got {preset!r}")
    path = run_dir() / "artifacts" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


class ArtifactMismatch(ValueError):
    """An artifact in the run folder was made for another model or model kind than the one asked for."""


def _made_for(preset) -> dict:
    return {"preset": preset.name, "model_kind": preset.model_kind, "model": preset.model}


def mark_artifact(folder: str | Path, preset) -> Path:
    """Write ``artifact.json`` ({preset, model_kind, model}) beside a saved model, adapter or dataset."""
    return write_atomic(Path(folder) / ARTIFACT_FILE, json.dumps(_made_for(preset), indent=1))


def artifact_ready(folder: str | Path, preset, marker: str) -> bool:
    """Whether ``folder`` holds a finished artifact (its ``marker`` file, e.g. model.safetensors) made for ``preset``'s
    model. False when there is none (the lab makes it); ArtifactMismatch when it was made for another model or kind."""
    folder = Path(folder)
    if not (folder / marker).exists():
        return False
    info_file = folder / ARTIFACT_FILE
    if not info_file.exists():
        raise ArtifactMismatch(f"{folder} holds a {marker} but no {ARTIFACT_FILE} saying which model it was made for; "
                               f"delete the folder (the lab then rebuilds it) or set {RUN_DIR_ENV} to a fresh folder")
    made, wanted = json.loads(info_file.read_text()), _made_for(preset)
    for key in ("model_kind", "model"):
        if made.get(key) != wanted[key]:
            raise ArtifactMismatch(
                f"{folder} was made for {made.get('model_kind')} model {made.get('model')!r} (preset "
                f"{made.get('preset')!r}), but this run uses {wanted['model_kind']} model {wanted['model']!r} (preset "
                f"{wanted['preset']!r}); refusing to load it. Delete the folder (the lab then rebuilds it) or set "
                f"{RUN_DIR_ENV} to a fresh folder")
    return True


def _plain(value):
    """JSON-safe copy: numpy/torch scalars to Python numbers; NaN and inf refused."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"refusing to record a non-finite number ({value}); fix the computation that produced it")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def record(lab: str, **figures) -> Path:
    """Save a lab's key figures as JSON beside its executed notebook: ``<run_dir>/<lab>.json``.

    The precision the lab computed in (``helpers.device`` policy) is recorded with them as ``precision``.
    """
    if not figures:
        raise ValueError("record() needs at least one figure, e.g. record('00_setup', load_seconds=0.3)")
    figures.setdefault("precision", device.precision())
    path = write_atomic(run_dir() / f"{lab}.json", json.dumps(_plain(figures), indent=2, sort_keys=True))
    print(f"recorded {len(figures)} figure(s) in {path}")
    side_by_side = beside_reference(lab, _plain(figures))
    if side_by_side:
        print("\nyour figures beside the reference run's (results/):\n" + side_by_side)
    return path


class Figures(dict):
    """A lab's key figures, gathered where each is measured and saved once at the end (``save()``, i.e. ``record``).

    ``add(name=value, ...)`` checks each value at once (numbers, no NaN) so a bad figure fails in the cell that made
    it. Running a cell again replaces its figures. ``comparisons`` gather across cells: each ``add(comparisons=[...])``
    adds to the list, replacing any comparison of the same name.
    """

    def __init__(self, lab: str, **figures):
        super().__init__()
        self.lab = lab
        self.add(**figures)

    def add(self, **figures) -> None:
        for key, value in _plain(figures).items():
            if key == "comparisons":
                names = {c["name"] for c in value}
                value = [c for c in self.get("comparisons", []) if c["name"] not in names] + value
            self[key] = value

    def save(self) -> Path:
        """Write the figures as ``<run folder>/<lab>.json`` (see ``record``) and print them beside the reference run's."""
        return record(self.lab, **self)


def load(lab: str, folder: str | Path | None = None) -> dict:
    """The figures a lab recorded."""
    return json.loads((Path(folder) if folder else run_dir()).joinpath(f"{lab}.json").read_text())


def fingerprint(folder: str | Path, marker: str = "model.safetensors") -> str:
    """Which saved model a result came from: its marker file's size and modification time."""
    stat = (Path(folder) / marker).stat()
    return f"{Path(folder).name}:{stat.st_size}:{stat.st_mtime_ns}"


def reuse(preset, name: str, settings: dict, ids: list[str], compute, lab: str) -> tuple[dict[str, list], str]:
    """Per-example results (e.g. a model's summaries and their ROUGE) that an earlier lab of this run measured.

    Stored under ``<artifacts>/scores/<name>.json`` with the ``settings`` they were made with (model, generation
    length, precision...). When those settings match and every id in ``ids`` is there, the stored values are returned
    and nothing is recomputed; otherwise ``compute()`` runs and must return ``{field: list aligned with ids}``, which
    is stored for later labs. Returns the values and the lab that measured them.
    """
    path = artifacts_dir(preset) / "scores" / f"{name}.json"
    settings = _plain(settings)
    saved = json.loads(path.read_text()) if path.exists() else None
    if saved and saved["settings"] == settings and all(i in saved["rows"] for i in ids):
        print(f"{name}: reusing what {saved['lab']} measured earlier in this run ({len(ids)} examples)")
        return {f: [saved["rows"][i][f] for i in ids] for f in saved["fields"]}, saved["lab"]
    values = compute()
    bad = {f: len(v) for f, v in values.items() if len(v) != len(ids)}
    if bad:
        raise ValueError(f"compute() must return one value per id ({len(ids)}); got lengths {bad}")
    rows = saved["rows"] if saved and saved["settings"] == settings else {}
    rows.update({i: {f: values[f][j] for f in values} for j, i in enumerate(ids)})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(_plain({"settings": settings, "lab": lab, "fields": list(values), "rows": rows})))
    return values, lab


def summaries(preset, name: str, model, tokenizer, rows: list[dict], prompts_: list[str], max_new_tokens: int,
              batch_size: int, lab: str, model_id: str | None = None) -> tuple[list[str], dict[str, list[float]], str]:
    """A model's summaries of test ``rows`` and their per-example ROUGE, computed once per run.

    ``name`` says which model ("original", "full_ft", ...) and ``model_id`` which weights exactly (the preset's model
    for the original, ``fingerprint(folder)`` for a saved one). Labs 04, 05 and 06 score the same models on the same
    dialogues: the first to do so stores the result and the others reuse it. Returns (predictions, per-example
    scores, the lab that generated them).
    """
    settings = {"model": model_id or getattr(preset, "model", str(preset)), "max_new_tokens": max_new_tokens,
                "precision": device.precision(), "prompts": "summary"}

    def compute():
        preds = generate.batch(model, tokenizer, prompts_, max_new_tokens=max_new_tokens, batch_size=batch_size)
        scores = metrics.per_example(preds, [r["references"] for r in rows])
        return {"prediction": preds, **{k: scores[k] for k in metrics.KEYS}}

    values, made_by = reuse(preset, name, settings, [r["id"] for r in rows], compute, lab)
    return values["prediction"], {k: values[k] for k in metrics.KEYS}, made_by


# What each lab's intro shows of the reference run (results/), and what record() prints beside the learner's own:
# (label, key in the lab's JSON, format). Dotted keys reach into nested figures. Every lab's comparisons are shown too.
REFERENCE = REPO / "results"
KEY_FIGURES = {
    "00_setup": [("parameters of the embedded model", "n_params", "{:,}")],
    "01_in_context_learning_limits": [("test dialogues", "n_eval", "{}"), ("ROUGE-1, zero-shot", "rouge1.0", "{:.3f}"),
                                      ("ROUGE-1, one shot", "rouge1.1", "{:.3f}"),
                                      ("prompt tokens, zero-shot / two shots", ("prompt_tokens.0", "prompt_tokens.2"), "{:.0f}")],
    "02_building_instruction_datasets": [
        ("held-out prompt loss, pre-training / SFT objective", ("objective_loss.pretraining.prompt", "objective_loss.sft.prompt"), "{:.2f}"),
        ("held-out completion loss, pre-training / SFT objective", ("objective_loss.pretraining.completion",
                                                                   "objective_loss.sft.completion"), "{:.2f}")],
    "03_full_fine_tuning_with_accelerate": [("learning rate (chosen on validation)", "learning_rate", "{:g}"),
                                            ("validation loss before / after", ("eval_loss_before", "eval_loss_after"), "{:.3f}"),
                                            ("useful tokens/s", "useful_tokens_per_second", "{:.0f}")],
    "04_rouge_before_and_after": [("test dialogues", "n_test", "{}"),
                                  ("ROUGE-1 before / after", ("rouge1_before", "rouge1_after"), "{:.3f}")],
    "05_catastrophic_forgetting": [("probes / test dialogues", ("n_probes", "eval_examples"), "{}"),
                                   ("setting the methods were compared in", "forgetting_setting", "{}"),
                                   ("probe accuracy: original / full, summaries only / multi-task / LoRA",
                                    ("probe_accuracy.original", "probe_accuracy.full, summaries only",
                                     "probe_accuracy.multi-task", "probe_accuracy.LoRA"), "{:.1%}")],
    "06_peft_lora": [("training rows, LoRA / full", ("lora_train_rows", "full_train_rows"), "{}"),
                     ("learning rate, LoRA / full (chosen on validation)", ("lora_learning_rate", "full_learning_rate"), "{:g}"),
                     ("LoRA's share of the full ROUGE-1 gain", "lora_share_of_full_gain", "{:.0%}"),
                     ("its 95% interval (paired bootstrap)", ("lora_share_of_full_gain_low", "lora_share_of_full_gain_high"),
                      "{:.0%}"),
                     ("trainable share with LoRA", "trainable_share", "{:.2%}")],
}


def _dig(figures: dict, key: str):
    value = figures
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _shown(figures: dict, key, fmt: str) -> str:
    keys = key if isinstance(key, tuple) else (key,)
    values = [_dig(figures, k) for k in keys]
    return " / ".join("n/a" if v is None else fmt.format(v) for v in values)


def reference_markdown(lab: str, figures: dict, run: str) -> str:
    """The reference run's key figures and comparisons of one lab, as markdown (labs' intros and results/)."""
    lines = [f"**What the reference run found** (run `{run}`, preset `{figures.get('preset', '?')}`, "
             f"{figures.get('precision', '?')}; your run prints its own figures beside these at the end)", ""]
    rows = [(label, _shown(figures, key, fmt)) for label, key, fmt in KEY_FIGURES.get(lab, [])]
    if rows:
        lines += ["| figure | reference |", "|---|---|"] + [f"| {label} | {value} |" for label, value in rows] + [""]
    comparisons = figures.get("comparisons") or []
    if comparisons:
        lines += ["| comparison | n | a | b | b - a [95% interval] | verdict |", "|---|---|---|---|---|---|"]
        for c in comparisons:
            scale = 100 if c["metric"] in ("rouge1", "rouge2", "rougeL", "probe accuracy") else 1
            lines.append(f"| {c['name']} | {c['n']} | {c['a_label']} {scale * c['a']:.1f} | {c['b_label']} "
                         f"{scale * c['b']:.1f} | {scale * c['diff']:+.1f} [{scale * c['low']:+.1f}, "
                         f"{scale * c['high']:+.1f}] | {c['verdict']} |")
        lines += ["", "ROUGE and accuracy differences in points (x 100)."]
    return "\n".join(lines).rstrip() + "\n"


def beside_reference(lab: str, figures: dict) -> str | None:
    """The learner's key figures beside the reference run's (results/<lab>.json), or None without a reference."""
    ref_file = REFERENCE / f"{lab}.json"
    if not ref_file.exists():
        return None
    ref = json.loads(ref_file.read_text())
    rows = [f"| {label} | {_shown(figures, key, fmt)} | {_shown(ref, key, fmt)} |"
            for label, key, fmt in KEY_FIGURES.get(lab, [])]
    theirs = {c["name"]: c for c in ref.get("comparisons") or []}
    for c in figures.get("comparisons") or []:
        if c["name"] in theirs:
            r = theirs[c["name"]]
            rows.append(f"| {c['name']}: b - a | {c['diff']:+.4f} [{c['low']:+.4f}, {c['high']:+.4f}] | "
                        f"{r['diff']:+.4f} [{r['low']:+.4f}, {r['high']:+.4f}] |")
    if not rows:
        return None
    head = f"| figure | this run (`{figures.get('preset')}`) | reference (`{ref.get('preset')}`) |\n|---|---|---|\n"
    return head + "\n".join(rows)
