import pytest
import torch

from helpers import models, train
from helpers.tokenizing import build


def test_a_batch_that_does_not_fit_names_the_knobs(tokenizer, tmp_path, monkeypatch):
    model, tok = models.tiny("causal", tokenizer)
    rows = [build(tok, f"Summarize: dialogue {i}", f"Summary {i}.", "causal", 32, 16) for i in range(4)]
    from datasets import Dataset

    ds = Dataset.from_list(rows)
    real_forward = model.forward

    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(model, "forward", oom)
    cfg = train.TrainConfig(output_dir=tmp_path / "out", max_steps=1, batch_size=4, progress=False)
    with pytest.raises(MemoryError, match="batch_size.*grad_accum"):
        train.run(model, tok, ds, None, cfg)
    model.forward = real_forward
