"""The memory estimate's arithmetic, and the measurement against it on a tiny model."""

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from accelerate.commands.estimate import estimate_training_usage
from accelerate.utils import calculate_maximum_sizes
from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

from helpers import memory, models

REPO = Path(__file__).resolve().parent.parent


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


@pytest.mark.parametrize("bad,needle", [(dict(params=0), "params"), (dict(params=10, precision="fp8"), "precision"),
                                        (dict(params=10, precision="int8"), "precision")])
def test_bad_inputs_are_clear_errors(bad, needle):
    with pytest.raises(ValueError, match=needle):
        memory.estimate(**bad)


@pytest.mark.parametrize("stage,gb", [(0, 120.0), (1, 31.4), (2, 16.6), (3, 1.9)])
def test_zero_per_gpu_bytes_match_the_papers_figure_1(stage, gb):
    """ZeRO paper, Figure 1: a 7.5B-parameter model on 64 GPUs with mixed-precision Adam (K = 12)."""
    assert memory.per_gpu_bytes(7.5e9, 64, stage) / memory.GB == pytest.approx(gb, abs=0.05)


def test_zero_formulas_shard_one_more_state_per_stage():
    n, g = 1_000_000, 8
    assert memory.per_gpu_bytes(n, g, 0) == 16 * n  # DDP: 2 + 2 + 12 bytes on every GPU
    assert memory.per_gpu_bytes(n, g, 1) == (2 + 2) * n + 12 * n / g
    assert memory.per_gpu_bytes(n, g, 2) == 2 * n + (2 + 12) * n / g
    assert memory.per_gpu_bytes(n, g, 3) == 16 * n / g
    assert all(memory.per_gpu_bytes(n, 1, s) == 16 * n for s in memory.ZERO_STAGES)  # one GPU: nothing to shard
    # DDP's 16 bytes a parameter are the same total as the single-GPU estimate of mixed-precision training
    assert memory.per_gpu_bytes(n, g, 0) == memory.estimate(n, "bf16").static
    assert memory.per_gpu_bytes(n, g, 3, optimizer_bytes=4) == 8 * n / g


def test_zero_table_has_a_row_for_each_model_and_gpu_count():
    rows = memory.zero_rows({"7B": 7e9, "70B": 70e9}, gpus=(1, 8))
    assert [(r["model"], r["n_gpus"]) for r in rows] == [("7B", 1), ("7B", 8), ("70B", 1), ("70B", 8)]
    assert rows[1]["ZeRO-3"] == 7e9 * 16 / 8
    table = memory.zero_table({"7B": 7e9, "70B": 70e9}, gpus=(1, 8)).splitlines()
    assert table[0].startswith("| model | GPUs | DDP GB/GPU | ZeRO-1") and len(table) == 2 + 4
    assert table[2] == "| 7B | 1 | 112.0 | 112.0 | 112.0 | 112.0 |"
    assert table[3] == "| 7B | 8 | 112.0 | 38.5 | 26.2 | 14.0 |"
    assert len(memory.zero_table().splitlines()) == 2 + 5 * 3  # 135M, 1B, 7B, 13B, 70B on 1, 8 and 64 GPUs


@pytest.mark.parametrize("args,needle", [((0, 8, 1), "params"), ((-5e9, 8, 1), "params"), ((7e9, 0, 1), "n_gpus"),
                                         ((7e9, 2.5, 1), "n_gpus"), ((7e9, 8, 4), "stage"),
                                         ((7e9, 8, "zero3"), "stage"), ((7e9, 8, True), "stage")])
def test_zero_bad_inputs_are_clear_errors(args, needle):
    with pytest.raises(ValueError, match=needle):
        memory.per_gpu_bytes(*args)
    with pytest.raises(ValueError, match="optimizer_bytes"):
        memory.per_gpu_bytes(7e9, 8, 1, optimizer_bytes=-1)
    with pytest.raises(ValueError, match="at least one"):
        memory.zero_table({}, gpus=(8,))


# SmolLM2-135M's and FLAN-T5-base's shapes, built on the meta device: no weights, no download
SHAPES = [(LlamaForCausalLM, LlamaConfig(hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                                         num_attention_heads=9, num_key_value_heads=3, vocab_size=49152,
                                         tie_word_embeddings=True)),
          (T5ForConditionalGeneration, T5Config(d_model=768, d_ff=2048, d_kv=64, num_layers=12, num_heads=12,
                                                vocab_size=32128, feed_forward_proj="gated-gelu",
                                                tie_word_embeddings=False))]


@pytest.mark.parametrize("cls,cfg", SHAPES, ids=["smollm2-135m", "flan-t5-base"])
def test_weight_and_training_bytes_match_accelerate_estimate_memory(cls, cfg):
    """The figures of `accelerate estimate-memory` (its Python API, on a model built from config)."""
    with torch.device("meta"):
        model = cls(cfg)
    total, _ = calculate_maximum_sizes(model)  # accelerate's "Total Size" in float32, buffers included
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    ours = memory.estimate_for(model, batch=1, seq=1, precision="fp32")
    assert ours.weights == total - buffers == 4 * models.n_params(model)
    usage = estimate_training_usage(total - buffers, "float32")  # its "Training using Adam" is the largest part
    assert ours.static == max(usage.values()) == usage["model"] + usage["gradients"] + usage["optimizer"]
    # (under mixed precision accelerate reports only its largest part, the AdamW states: not comparable to a sum)


def _in_a_fresh_process(code: str) -> dict:
    """Run ``code`` in a new Python process and return the JSON it prints last.

    Resident memory is a property of the whole process: memory that earlier tests freed may be kept by the allocator
    and reused, so a rise would not show. A fresh process measures the block alone.
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "TOKENIZERS_PARALLELISM": "false"}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_measured_step_is_near_the_estimate(tokenizer):  # the fixture skips the test without the embedded model
    got = _in_a_fresh_process("""
        import json, torch
        from transformers import LlamaConfig, LlamaForCausalLM
        from helpers import memory, models
        from helpers.tokenizing import Collator, build
        tok = models.embedded_tokenizer()  # a 12.6M-parameter model: big enough for RSS to see the step
        model = LlamaForCausalLM(LlamaConfig(hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                                             num_attention_heads=4, vocab_size=len(tok), tie_word_embeddings=True))
        rows = [build(tok, "Summarize: " + "word " * 40, "A short summary.", "causal", 64, 16) for _ in range(2)]
        batch = Collator(tok.pad_token_id)(rows)
        est = memory.estimate_for(model, *batch["input_ids"].shape)
        got = memory.measure_step(model, batch)
        got["expected_params"] = models.n_params(model) * 4
        got["grads_and_adam"] = est.gradients + est.optimizer
        print(json.dumps(got))
    """)
    assert got["params"] == got["expected_params"]
    assert math.isfinite(got["loss"])
    assert 0.5 < got["after_step_added"] / got["grads_and_adam"] < 2
    assert got["step_peak_added"] >= got["after_step_added"] * 0.5


def test_peak_memory_sees_a_large_allocation_that_is_freed_again():
    got = _in_a_fresh_process("""
        import json, torch
        from helpers import memory
        with memory.PeakMemory() as peak:
            x = torch.ones(64 * 1024 * 1024 // 4)  # 64 MiB
            x += 1
            del x
        print(json.dumps({"added": peak.added, "after": memory.in_use() - peak.start}))
    """)
    assert got["added"] > 40 * 1024 * 1024
    assert got["after"] < got["added"] - 40 * 1024 * 1024  # the peak outlives the tensor


def test_peak_bytes_starts_again_after_a_reset():
    got = _in_a_fresh_process("""
        import json, torch
        from helpers import memory
        x = torch.ones(128 * 1024 * 1024 // 4)  # 128 MiB, then freed
        x += 1
        del x
        before = memory.peak_bytes()
        exact = memory.reset_peak()
        print(json.dumps({"before": before, "after_reset": memory.peak_bytes(), "exact": exact}))
    """)
    assert got["before"] > 0
    if got["exact"]:  # Linux: the kernel's high-water mark restarts from what is in use now
        assert got["after_reset"] < got["before"] - 64 * 1024 * 1024
