"""bench/seq2seq_check.py: the course-shaped seq2seq check a GPU runs, run here on the tiny sizes."""

import json

import torch
from peft import LoraConfig, TaskType, get_peft_model
from transformers import T5Config, T5ForConditionalGeneration

from bench import seq2seq_check
from helpers import models


def test_the_check_runs_end_to_end_on_the_tiny_sizes(tmp_path):
    out = tmp_path / "seq2seq.json"
    argv = ["--tiny", "--steps", "2", "--batch-size", "2", "--gen-examples", "2", "--gen-batch-size", "2", "--out", str(out)]
    assert seq2seq_check.main(argv) == 0
    results = json.loads(out.read_text())
    assert all(results["checks"].values()) and results["train_rows"] == 4
    assert results["full"]["steps"] == results["lora"]["steps"] == 2
    assert 0 < results["lora"]["trainable"] < results["n_params"]
    assert results["generation"]["examples"] == 2 and results["generation"]["examples_per_s"] > 0


def test_the_config_in_the_repo_has_flan_t5_bases_shapes():
    cfg = T5Config.from_json_file(seq2seq_check.CONFIG)
    assert (cfg.d_model, cfg.d_ff, cfg.num_heads, cfg.num_layers, cfg.num_decoder_layers) == (768, 2048, 12, 12, 12)
    assert cfg.is_gated_act and cfg.vocab_size == 32128
    with torch.device("meta"):  # shapes only, no memory
        model = T5ForConditionalGeneration(cfg)
        seq2seq_check.untie_output_layer(model)  # FLAN-T5's output layer has weights of its own
    assert models.n_params(model) == 247_577_856  # FLAN-T5-base's parameter count
    with torch.device("meta"):  # the course's LoRA on it: the course prints 3,538,944 trainable of 251,116,800
        peft_model = get_peft_model(model, LoraConfig(r=32, lora_alpha=32, target_modules=["q", "v"],
                                                      task_type=TaskType.SEQ_2_SEQ_LM))
    assert (models.n_params(peft_model, trainable_only=True), models.n_params(peft_model)) == (3_538_944, 251_116_800)
