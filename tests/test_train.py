"""The training engine on tiny models: loss falls, resume is exact, masks, checkpoints, errors, 2-process DDP."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers import batching, checkpoints, data, models, tokenizing, train
from helpers.tokenizing import IGNORE, Collator

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_data(tokenizer):
    rows = data.load_dialogsum("pocket", "train", limit=16)
    ev = data.load_dialogsum("pocket", "validation", limit=4)
    return (tokenizing.summary_dataset(tokenizer, "causal", rows, 64, 16),
            tokenizing.summary_dataset(tokenizer, "causal", ev, 64, 16))


def _cfg(out, **kw):
    base = dict(output_dir=out, epochs=2, batch_size=4, grad_accum=2, learning_rate=3e-3, warmup_ratio=0.2,
                progress=False, seed=0)
    base.update(kw)
    return train.TrainConfig(**base)


def test_loss_falls_and_the_model_is_saved_as_safetensors(tmp_path, tokenizer, tiny_data):
    model, tok = models.tiny("causal", tokenizer, seed=0)
    res = train.run(model, tok, tiny_data[0], tiny_data[1], _cfg(tmp_path / "ft", epochs=4, eval_every=2))
    assert res.steps == res.total_steps == 8  # 16 rows / 4 = 4 batches, 2 per step, 4 epochs
    assert res.log[-1]["loss"] < res.log[0]["loss"] - 0.3
    assert res.eval_log[0]["step"] == 0 and res.eval_log[-1]["eval_loss"] < res.eval_log[0]["eval_loss"]
    assert 0 < res.useful_tokens <= res.tokens
    logged = train.load_log(tmp_path / "ft")
    assert [e["step"] for e in logged["log"]] == list(range(1, 9))
    assert (tmp_path / "ft" / "model.safetensors").exists()
    assert not list((tmp_path / "ft").glob("*.bin")) and not list((tmp_path / "ft").glob("*.pt"))
    again, _ = models.load_pretrained(tmp_path / "ft", "causal")
    x = torch.tensor([tiny_data[0][0]["input_ids"]])
    assert torch.allclose(again(x).logits, res.model(x).logits, atol=1e-5)


def test_resume_reproduces_an_uninterrupted_run(tmp_path, tokenizer, tiny_data):
    full, tok = models.tiny("causal", tokenizer, seed=0)
    ref = train.run(full, tok, tiny_data[0], tiny_data[1], _cfg(tmp_path / "a", epochs=3))
    first, _ = models.tiny("causal", tokenizer, seed=0)
    cut = train.run(first, tok, tiny_data[0], tiny_data[1], _cfg(tmp_path / "b", epochs=3, stop_after=3))
    assert cut.stopped_early and cut.steps == 3 and cut.checkpoint.name == "step_000003"
    assert not (tmp_path / "b" / "model.safetensors").exists()  # an interrupted run saves no final model
    other, _ = models.tiny("causal", tokenizer, seed=7)  # different start weights: all must come from the checkpoint
    res = train.run(other, tok, tiny_data[0], tiny_data[1], _cfg(tmp_path / "b", epochs=3, resume=True))
    assert res.resumed_from == cut.checkpoint and res.steps == ref.steps
    assert res.final_loss == pytest.approx(ref.final_loss, abs=1e-6)
    assert [e["loss"] for e in res.log] == pytest.approx([e["loss"] for e in ref.log], abs=1e-6)
    for (n, p), (_, q) in zip(ref.model.named_parameters(), res.model.named_parameters()):
        assert torch.allclose(p, q, atol=1e-6), n


def test_resume_refuses_a_different_plan(tmp_path, tokenizer, tiny_data):
    model, tok = models.tiny("causal", tokenizer, seed=0)
    train.run(model, tok, tiny_data[0], None, _cfg(tmp_path / "c", epochs=3, stop_after=2))
    with pytest.raises(ValueError, match="planned for 6 steps"):
        train.run(model, tok, tiny_data[0], None, _cfg(tmp_path / "c", epochs=1, resume=True))


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, tokenizer, tiny_data):
    model, tok = models.tiny("causal", tokenizer, seed=0)
    forward, calls = model.forward, {"n": 0}

    def poisoned(*a, **kw):
        out = forward(*a, **kw)
        calls["n"] += 1
        if calls["n"] > 4 and model.training:  # micro-batches 5+ (optimizer step 3 on) give NaN
            out.loss = out.loss * float("nan")
        return out

    model.forward = poisoned
    with pytest.raises(train.NonFiniteLoss, match=r"loss nan at step 3 .*step_000002"):
        train.run(model, tok, tiny_data[0], None, _cfg(tmp_path / "d", save_every=1, keep_checkpoints=2))
    kept = checkpoints.checkpoints(tmp_path / "d")
    assert [p.name for p in kept] == ["step_000001", "step_000002"]
    state = json.loads((kept[-1] / checkpoints.STATE_FILE).read_text())
    assert all(torch.isfinite(torch.tensor(e["loss"])) for e in state["log"])


def test_length_grouped_batches_cover_every_row_once_and_pad_little():
    lengths = [5, 100, 7, 98, 6, 99, 50, 51, 8, 97, 52, 4]
    s = batching.LengthGroupedBatches(lengths, batch_size=3, seed=1)
    batches = s.batches()
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert max(lengths[i] for i in batches[0]) == 100  # longest first
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    plain = batching.LengthGroupedBatches(lengths, 3, seed=1, group=False).batches()
    assert padded <= sum(max(lengths[i] for i in b) * len(b) for b in plain)
    assert s.batches() == batches  # same seed and epoch: same order
    s.set_epoch(1)
    assert s.batches() != batches


def test_loss_sums_count_only_labelled_tokens(tokenizer, tiny_data):
    model, tok = models.tiny("causal", tokenizer, seed=0)
    batch = Collator(tok.pad_token_id)([tiny_data[0][i] for i in range(3)])
    with torch.no_grad():
        out = model(**batch)
    s, n = train.token_loss_sums(out.logits, batch["labels"], causal=True)
    assert n.sum().item() == (batch["labels"][:, 1:] != IGNORE).sum().item()
    assert (s.sum() / n.sum()).item() == pytest.approx(out.loss.item(), rel=1e-5)


def test_seq2seq_trains(tmp_path, tokenizer):
    model, tok = models.tiny("seq2seq", tokenizer, seed=0)
    rows = data.load_dialogsum("pocket", "train", limit=8)
    ds = tokenizing.summary_dataset(tok, "seq2seq", rows, 48, 16)
    res = train.run(model, tok, ds, ds, _cfg(tmp_path / "s2s", epochs=3, grad_accum=1, save_model=False))
    assert res.log[-1]["loss"] < res.log[0]["loss"]
    assert res.eval_log[-1]["eval_loss"] < res.eval_log[0]["eval_loss"]


@pytest.mark.parametrize("bad, match", [(dict(batch_size=0), "batch_size"), (dict(learning_rate=-1.0), "learning_rate"),
                                        (dict(scheduler="step"), "scheduler"), (dict(eval_every=-1), "eval_every"),
                                        (dict(precision="fp8"), "precision")])
def test_bad_config_is_a_clear_error(tmp_path, tokenizer, tiny_data, bad, match):
    model, tok = models.tiny("causal", tokenizer, seed=0)
    with pytest.raises(ValueError, match=match):
        train.run(model, tok, tiny_data[0], None, _cfg(tmp_path / "x", **bad))


def test_rows_without_labels_are_refused(tmp_path, tokenizer):
    model, tok = models.tiny("causal", tokenizer, seed=0)
    with pytest.raises(ValueError, match="build_dataset"):
        train.run(model, tok, [{"input_ids": [1, 2]}], None, _cfg(tmp_path / "y"))


def test_two_process_ddp_on_cpu_trains(tmp_path):
    """`accelerate launch` with 2 processes (gloo on CPU) through the command line, on a tiny model."""
    out = tmp_path / "ddp"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29571",
           "-m", "helpers.finetune", "--preset", "smoke", "--model", "tiny", "--train-examples", "16",
           "--eval-examples", "4",
           "--max-source-tokens", "64", "--max-target-tokens", "16", "--batch-size", "2", "--epochs", "3",
           "--learning-rate", "3e-3", "--output-dir", str(out), "--no-progress"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("{")))
    assert summary["processes"] == 2
    assert summary["total_steps"] == 12  # 16 rows / (2 per process x 2 processes) = 4 steps an epoch
    log = train.load_log(out)["log"]
    assert log[-1]["loss"] < log[0]["loss"]
    assert log[0]["tokens"] > 0
    assert (out / "model.safetensors").exists()


@pytest.mark.parametrize("every, writes", [(1e9, 1), (0, 4 + 1)])
def test_the_step_log_is_written_at_most_every_log_every_s(tmp_path, tokenizer, tiny_data, monkeypatch, every, writes):
    """Writing train_log.json (fsync'ed) after every step halved GPU throughput: it is throttled by time, and the
    final file still holds every step."""
    calls = []
    real = train.write_atomic
    monkeypatch.setattr(train, "write_atomic", lambda p, text: (calls.append(Path(p).name), real(p, text))[1])
    model, tok = models.tiny("causal", tokenizer, seed=0)
    res = train.run(model, tok, tiny_data[0], None, _cfg(tmp_path / "ft", epochs=1, grad_accum=1, log_every_s=every,
                                                         save_model=False))
    assert res.steps == 4
    assert calls.count(train.LOG_FILE) == writes
    assert [e["step"] for e in train.load_log(tmp_path / "ft")["log"]] == [1, 2, 3, 4]


def test_log_every_s_must_be_a_number_at_least_zero(tmp_path):
    with pytest.raises(ValueError, match="log_every_s"):
        _cfg(tmp_path, log_every_s=-1).validate()


def test_the_learning_rate_is_chosen_on_validation_loss_with_everything_else_equal(tmp_path, tokenizer, tiny_data, capsys):
    from helpers import finetune

    made = []

    def make():
        made.append(1)
        return models.tiny("causal", tokenizer, seed=0)[0]

    table, best, kept = finetune.learning_rate_search(make, tokenizer, tiny_data[0], tiny_data[1], [1e-6, 3e-3],
                                                      tmp_path / "search", keep_best=True, max_steps=3, batch_size=4,
                                                      progress=False)
    assert len(made) == 2 and [r["learning_rate"] for r in table] == [1e-6, 3e-3]
    assert all(r["steps"] == 3 for r in table)
    assert best == min(table, key=lambda r: r["eval_loss"])["learning_rate"]
    assert kept is not None and kept.eval_log[-1]["eval_loss"] == min(r["eval_loss"] for r in table)
    assert best == 3e-3  # a rate too small to move the model in 3 steps loses to a working one
    assert "the largest tried" in capsys.readouterr().out  # and the search says a larger rate was never tried
    assert finetune.at_edge([1e-6, 3e-3], 3e-3) and finetune.at_edge([1e-4, 2e-4, 4e-4], 1e-4)
    assert not finetune.at_edge([1e-4, 2e-4, 4e-4], 2e-4) and not finetune.at_edge([1e-3], 1e-3)
    with pytest.raises(ValueError, match="validation"):
        finetune.learning_rate_search(make, tokenizer, tiny_data[0], None, [1e-3], tmp_path / "x")


def test_the_loss_ignores_a_soft_prompts_leading_positions():
    torch.manual_seed(0)
    logits, labels = torch.randn(2, 5, 11), torch.randint(0, 11, (2, 5))
    virtual = torch.randn(2, 3, 11)  # three virtual tokens before the input, as peft's prompt tuning adds them
    plain = train.token_loss_sums(logits, labels, causal=True)
    prefixed = train.token_loss_sums(torch.cat([virtual, logits], dim=1), labels, causal=True)
    assert torch.equal(plain[0], prefixed[0]) and torch.equal(plain[1], prefixed[1])
    with pytest.raises(ValueError, match="positions"):
        train.token_loss_sums(logits[:, :3], labels, causal=True)


def test_a_stored_search_is_reused_only_for_the_same_model_rates_rows_and_settings(tmp_path, tokenizer, tiny_data):
    from helpers import finetune

    made = []

    def make():
        made.append(1)
        return models.tiny("causal", tokenizer, seed=0)[0]

    args = (make, tokenizer, tiny_data[0], tiny_data[1], [1e-6, 3e-3], tmp_path / "search")
    first = finetune.learning_rate_search(*args, model_id="tiny", max_steps=2, batch_size=4, progress=False)
    assert len(made) == 2 and (tmp_path / "search" / "search.json").exists()
    again = finetune.learning_rate_search(*args, model_id="tiny", max_steps=2, batch_size=4, progress=False)
    assert len(made) == 2 and again[:2] == first[:2]  # nothing trained: the stored table and rate come back
    finetune.learning_rate_search(*args, model_id="another", max_steps=2, batch_size=4, progress=False)
    finetune.learning_rate_search(*args, model_id="another", max_steps=3, batch_size=4, progress=False)
    finetune.learning_rate_search(make, tokenizer, tiny_data[0].select(range(4)), tiny_data[1], [1e-6, 3e-3],
                                  tmp_path / "search", model_id="another", max_steps=3, batch_size=4, progress=False)
    assert len(made) == 8  # another model, other settings, other rows: each searched anew
