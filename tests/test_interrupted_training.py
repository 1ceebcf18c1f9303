"""Interrupted training: kill a training process after a checkpoint, resume, and end exactly where an
uninterrupted run ends (same loss log, same weights) on the CPU."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

TESTS = Path(__file__).resolve().parent
KILL_AFTER = 4  # optimizer step whose checkpoint triggers the kill: mid-epoch, in the second epoch


def setup(output_dir, **overrides):
    """The tiny model, 24 pocket rows and a config that checkpoints every step (the same in every process)."""
    from helpers import checkpoints, data, models, tokenizing, train

    torch.set_num_threads(1)  # same arithmetic in every process; and fast on a CPU shared with other jobs
    model, tokenizer = models.tiny("causal", seed=0)
    rows = data.load_dialogsum("pocket", "train", limit=24)
    ds = tokenizing.summary_dataset(tokenizer, "causal", rows, 64, 16)
    eval_ds = tokenizing.summary_dataset(tokenizer, "causal", data.load_dialogsum("pocket", "validation", limit=8), 64, 16)
    cfg = dict(output_dir=Path(output_dir), epochs=2.0, batch_size=4, grad_accum=2, learning_rate=1e-3,
               save_every=1, keep_checkpoints=2, eval_every=2, seed=0, precision="fp32", cpu=True,
               progress=False)
    cfg.update(overrides)
    return model, tokenizer, ds, eval_ds, train.TrainConfig(**cfg)


def child(output_dir: str) -> None:
    """Run in the subprocess: train slowly, print a line after each complete checkpoint."""
    import time

    from helpers import checkpoints, train

    model, tokenizer, ds, eval_ds, cfg = setup(output_dir)
    model.register_forward_pre_hook(lambda *_: time.sleep(0.3))  # slow enough to be killed mid-run
    save = checkpoints.save

    def announce(accelerator, out, state, keep):
        path = save(accelerator, out, state, keep)
        print(f"CKPT {state['step']}", flush=True)
        return path

    checkpoints.save = announce
    train.run(model, tokenizer, ds, eval_ds, cfg)
    print("FINISHED", flush=True)


def _plain_log(log):
    return [{k: v for k, v in e.items() if k != "seconds"} for e in log]


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path, one_thread):
    from helpers import checkpoints, models, train

    killed_dir = tmp_path / "killed"
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        from test_interrupted_training import child
        child({str(killed_dir)!r})
    """)
    err = tmp_path / "child.stderr"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=err.open("w"), text=True)
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line.strip())
            if line.strip() == f"CKPT {KILL_AFTER}":
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        if proc.poll() is None and f"CKPT {KILL_AFTER}" not in seen:
            proc.kill()  # it failed before the checkpoint: do not leave it running
        proc.wait(timeout=60)
    assert f"CKPT {KILL_AFTER}" in seen, f"the child never reached step {KILL_AFTER}: {seen}\n{err.read_text()[-2000:]}"
    assert proc.returncode == -signal.SIGKILL and "FINISHED" not in seen, "the child finished before it was killed"
    assert not (killed_dir / "model.safetensors").exists()
    newest = checkpoints.checkpoints(killed_dir)[-1]
    assert int(newest.name.split("_")[1]) >= KILL_AFTER

    # resuming with a different plan is refused with a clear message, not silently mixed
    model, tokenizer, ds, eval_ds, cfg = setup(killed_dir, resume=True, max_steps=9)
    with pytest.raises(ValueError, match="planned for"):
        train.run(model, tokenizer, ds, eval_ds, cfg)

    model, tokenizer, ds, eval_ds, cfg = setup(killed_dir, resume=True)
    resumed = train.run(model, tokenizer, ds, eval_ds, cfg)
    assert resumed.resumed_from == newest and resumed.steps == resumed.total_steps == 6

    model, tokenizer, ds, eval_ds, cfg = setup(tmp_path / "whole")
    whole = train.run(model, tokenizer, ds, eval_ds, cfg)
    assert whole.resumed_from is None and whole.steps == 6

    assert resumed.final_loss == whole.final_loss
    assert _plain_log(resumed.log) == _plain_log(whole.log)
    assert resumed.eval_log == whole.eval_log
    a, b = resumed.model.state_dict(), whole.model.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"weight {k} differs after resume"
    start = models.tiny("causal", seed=0)[0].state_dict()
    assert sum(not torch.equal(a[k], start[k]) for k in a) > len(a) // 2  # it trained: a frozen model passes trivially
    # the saved safetensors files hold the same weights too
    from safetensors.torch import load_file

    on_disk_a, on_disk_b = load_file(killed_dir / "model.safetensors"), load_file(tmp_path / "whole" / "model.safetensors")
    assert on_disk_a.keys() == on_disk_b.keys() and all(torch.equal(on_disk_a[k], on_disk_b[k]) for k in on_disk_a)
