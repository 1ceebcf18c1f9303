"""The memory estimate's arithmetic, and the measurement against it on a tiny model."""

import pytest
import torch

from helpers import memory, models
from helpers.tokenize import Collator, build


def test_sixteen_bytes_a_parameter_in_either_precision():
    for precision in ("fp32", "no", "bf16", "fp16"):
        e = memory.estimate(1000, precision)
        assert e.static == 16000
    fp32, bf16 = memory.estimate(1000, "fp32"), memory.estimate(1000, "bf16")
    assert fp32.weights == 4000 and fp32.master_weights == 0 and fp32.optimizer == 8000
    assert bf16.weights == 2000 and bf16.master_weights == 4000 and bf16.gradients == 2000


def test_extrapolation_shows_a_7b_model_does_not_fit_one_80gb_gpu():
    rows = {r["model"]: r for r in memory.extrapolate()}
    assert rows["7B"]["gib"] == pytest.approx(7e9 * 16 / memory.GIB)
    assert rows["7B"]["fits"] == [] and rows["7B"]["gpus_80gb_needed"] == 2
    assert rows["1B"]["fits"] and rows["70B"]["gpus_80gb_needed"] >= 13


def test_activations_grow_with_tokens_and_shrink_with_checkpointing():
    a = memory.activation_bytes(1, 128, 576, 30, 9, 49152, 1536)
    assert memory.activation_bytes(2, 128, 576, 30, 9, 49152, 1536) == pytest.approx(2 * a)
    assert memory.activation_bytes(1, 128, 576, 30, 9, 49152, 1536, gradient_checkpointing=True) < a


@pytest.mark.parametrize("bad", [dict(params=0), dict(params=10, precision="fp8"), dict(params=10, optimizer="lion")])
def test_bad_inputs_are_clear_errors(bad):
    with pytest.raises(ValueError):
        memory.estimate(**bad)


def test_measured_step_is_near_the_estimate(tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tokenizer  # a 12.6M-parameter model: big enough for RSS (page- and allocator-granular) to see the step
    model = LlamaForCausalLM(LlamaConfig(hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                                         num_attention_heads=4, vocab_size=len(tok), tie_word_embeddings=True))
    rows = [build(tok, "Summarize: " + "word " * 40, "A short summary.", "causal", 64, 16) for _ in range(2)]
    batch = Collator(tok.pad_token_id)(rows)
    est = memory.for_model(model, *batch["input_ids"].shape)
    got = memory.measure_step(model, batch)
    assert got["params"] == sum(p.numel() * 4 for p in model.parameters())
    assert torch.isfinite(torch.tensor(got["loss"]))
    assert 0.5 < got["after_step_added"] / (est.gradients + est.optimizer) < 2
    assert got["step_peak_added"] >= got["after_step_added"] * 0.5


def test_peak_rss_sees_a_large_allocation():
    with memory.PeakRSS() as peak:
        x = torch.ones(64 * 1024 * 1024 // 4)  # 64 MiB
        x += 1
        del x
    assert peak.added > 40 * 1024 * 1024
