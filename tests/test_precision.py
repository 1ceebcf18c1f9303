"""The precision policy (helpers.device) and what training and generation do with it."""

import copy
import pytest
import torch

from helpers import device, generate, models, tokenizing, train


@pytest.fixture
def fake_cuda(monkeypatch):
    """A CUDA device of a chosen compute capability, without a GPU."""
    def use(major: int):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda dev=None: (major, 0))
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda dev=None: f"fake sm_{major}0")
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # True on a T4 too: not the test
        return torch.device("cuda")
    return use


def test_auto_on_gpus_follows_compute_capability_not_is_bf16_supported(fake_cuda, monkeypatch):
    monkeypatch.delenv(device.ENV, raising=False)
    ampere = fake_cuda(8)
    assert device.precision("auto", ampere) == "bf16"
    assert device.precision("auto", ampere, kind="seq2seq") == "bf16"
    t4 = fake_cuda(7)
    assert device.precision("auto", t4) == "fp16"  # decoder-only: fp16 with a loss scaler
    assert device.precision("auto", t4, kind="seq2seq") == "fp32"  # T5 overflows in fp16
    with pytest.raises(ValueError, match="auto.*fp32"):
        device.precision("bf16", t4)


def test_auto_on_a_cpu_follows_the_bf16_check(monkeypatch):
    monkeypatch.delenv(device.ENV, raising=False)
    cpu = torch.device("cpu")
    monkeypatch.setattr(device, "cpu_bf16", lambda: True)
    assert device.precision("auto", cpu) == "bf16"
    assert device.precision(None, cpu) == "bf16"
    monkeypatch.setattr(device, "cpu_bf16", lambda: False)
    assert device.precision("auto", cpu) == "fp32"
    with pytest.raises(ValueError, match="no fast bf16.*'auto'.*'fp32'"):
        device.precision("bf16", cpu)
    with pytest.raises(ValueError, match="fp16 mixed precision needs a CUDA GPU"):
        device.precision("fp16", cpu)
    assert device.precision("fp32", cpu) == "fp32"


def test_unknown_names_list_the_choices_and_the_environment_variable_is_read(monkeypatch):
    with pytest.raises(ValueError, match="auto, fp32, bf16, fp16"):
        device.precision("half", torch.device("cpu"))
    monkeypatch.setenv(device.ENV, "fp32")
    assert device.precision(None, torch.device("cpu")) == "fp32"
    monkeypatch.setenv(device.ENV, "float16")
    with pytest.raises(ValueError, match="unknown precision 'float16'"):
        device.precision(None, torch.device("cpu"))


def test_the_cpu_probe_is_measured_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_CACHE", str(tmp_path))
    first = device.probe_speedup(n=64, reps=2)
    assert first > 0 and (tmp_path / device.PROBE_FILE).exists()
    monkeypatch.setattr(torch, "randn", lambda *a, **k: pytest.fail("measured again instead of reading the cache"))
    assert device.probe_speedup(n=64, reps=2) == pytest.approx(first, rel=1e-2)


def test_generation_never_changes_the_callers_model(tokenizer):
    model, tok = models.tiny("causal", tokenizer, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with generate.computing(model, "fp32") as same:
        assert same is model
    if device.cpu_bf16():
        with generate.computing(model, "bf16") as low:
            assert low is not model and next(low.parameters()).dtype == torch.bfloat16
    assert next(model.parameters()).dtype == torch.float32
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.skipif(not device.bf16_fast(torch.device("cpu")), reason="this CPU has no fast bf16 kernels")
def test_bf16_training_tracks_fp32_and_keeps_fp32_master_weights(tokenizer, tmp_path):
    """Five AdamW steps of a tiny model in bf16 autocast against fp32, same data and seed.

    Tolerance 0.1%: bf16 rounds each matmul input to 8 bits of mantissa (2**-8 = 0.4% relative), but the errors
    average out over the hidden size; measured, the per-step losses agree within 0.002% (loss ~10.8 = ln(vocab)).
    A real change of the run is far larger: a learning rate 10x higher moves the loss by 4% at step 2 and 12% at 5.
    """
    model, tok = models.tiny("causal", tokenizer, seed=0)
    rows = [{"dialogue": f"#Person1#: Hello number {i}.\n#Person2#: Hi {i}, how are you?", "summary": f"Greeting {i}."}
            for i in range(16)]
    ds = tokenizing.summary_dataset(tok, "causal", rows, 64, 16)
    runs = {}
    for name in ("fp32", "bf16"):
        cfg = train.TrainConfig(output_dir=tmp_path / name, max_steps=5, batch_size=4, learning_rate=1e-3,
                                precision=name, save_model=False, progress=False, seed=0)
        runs[name] = train.run(copy.deepcopy(model), tok, ds, ds, cfg)
    assert runs["bf16"].precision == "bf16" and runs["fp32"].precision == "fp32"
    assert train.load_log(tmp_path / "bf16")["precision"] == "bf16"
    assert all(p.dtype == torch.float32 for p in runs["bf16"].model.parameters())  # master weights stay fp32
    for a, b in zip(runs["fp32"].log, runs["bf16"].log):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-3)
    assert runs["bf16"].eval_log[-1]["eval_loss"] == pytest.approx(runs["fp32"].eval_log[-1]["eval_loss"], rel=1e-3)
    assert runs["bf16"].log[-1]["loss"] < runs["bf16"].log[0]["loss"]  # and it learns
