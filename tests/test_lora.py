import copy

import pytest
import torch
from peft import LoraConfig, get_peft_model
from peft.tuners.lora import Linear as PeftLoraLinear
from torch import nn

from helpers import lora, models


def _tiny():
    model, tok = models.tiny("causal", seed=0)
    return model, tok


def test_wrapped_linear_is_identity_at_init_and_only_a_b_train():
    torch.manual_seed(0)
    base = nn.Linear(16, 8)
    x = torch.randn(4, 16)
    expected = base(x).detach()
    layer = lora.LoRALinear(base, r=4, alpha=8)
    assert torch.equal(layer(x), expected)  # B = 0: exactly the original output
    assert [n for n, p in layer.named_parameters() if p.requires_grad] == ["lora_A", "lora_B"]
    w0, a0 = base.weight.detach().clone(), layer.lora_A.detach().clone()
    opt = torch.optim.SGD([p for p in layer.parameters() if p.requires_grad], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        (layer(x) - torch.ones(4, 8)).pow(2).mean().backward()
        opt.step()
    assert torch.equal(base.weight, w0)  # the frozen weight never moves
    assert layer.lora_B.abs().sum() > 0 and not torch.equal(layer.lora_A, a0)
    assert not torch.allclose(layer(x), expected)


def test_merge_equals_unmerged_output():
    torch.manual_seed(0)
    layer = lora.LoRALinear(nn.Linear(16, 8), r=2, alpha=4)
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(5, 16)
    merged = layer.merge()
    assert isinstance(merged, nn.Linear)
    torch.testing.assert_close(merged(x), layer(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(merged.weight - layer.base.weight, layer.delta_weight())


def test_inject_into_a_model_keeps_outputs_freezes_the_rest_and_merges():
    model, _ = _tiny()
    ids = torch.randint(0, 1000, (2, 7))
    with torch.no_grad():
        before = model(ids).logits
    names = lora.inject(model, targets=("q_proj", "v_proj"), r=2, alpha=4)
    assert len(names) == 2 * model.config.num_hidden_layers
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, before, rtol=0, atol=0)
    counts = lora.count(model)
    hidden, kv = model.config.hidden_size, model.config.num_key_value_heads * (model.config.hidden_size // model.config.num_attention_heads)
    per_layer = 2 * (hidden + hidden) + 2 * (hidden + kv)  # q: A r×in + B out×r; v likewise
    assert counts["trainable"] == model.config.num_hidden_layers * per_layer
    assert all(("lora_A" in n or "lora_B" in n) == p.requires_grad for n, p in model.named_parameters())
    assert set(lora.adapter_state_dict(model)) == {n for n, p in model.named_parameters() if p.requires_grad}
    for m in model.modules():  # give the adapters something to merge
        if isinstance(m, lora.LoRALinear):
            with torch.no_grad():
                m.lora_B.normal_(std=0.1)
    with torch.no_grad():
        adapted = model(ids).logits
        lora.merge(model)
        merged = model(ids).logits
    assert not any(isinstance(m, lora.LoRALinear) for m in model.modules())
    torch.testing.assert_close(merged, adapted, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(adapted, before)


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="rank"):
        lora.LoRALinear(nn.Linear(4, 4), r=0)
    with pytest.raises(ValueError, match="low-rank"):
        lora.LoRALinear(nn.Linear(4, 4), r=8)
    with pytest.raises(TypeError, match="nn.Linear"):
        lora.LoRALinear(nn.Conv1d(1, 1, 1))
    model, _ = _tiny()
    with pytest.raises(ValueError, match="q_proj"):
        lora.inject(model, targets=("query",))


def test_attention_targets_for_both_kinds():
    assert lora.attention_targets(_tiny()[0]) == ("q_proj", "v_proj")
    assert lora.attention_targets(models.tiny("seq2seq")[0]) == ("q", "v")
    with pytest.raises(ValueError, match="linear layers"):
        lora.attention_targets(nn.Sequential(nn.Linear(2, 2)))


def test_same_outputs_as_peft_lora_linear_with_the_same_a_and_b():
    """The teaching layer computes what peft's ``lora.Linear`` computes, merged or not."""
    torch.manual_seed(0)
    base = nn.Linear(16, 8)
    ours = lora.LoRALinear(copy.deepcopy(base), r=4, alpha=8)
    theirs = PeftLoraLinear(copy.deepcopy(base), "default", LoraConfig(r=4, lora_alpha=8), r=4, lora_alpha=8)
    x = torch.randn(5, 16)
    with torch.no_grad():
        torch.testing.assert_close(theirs(x), ours(x), rtol=0, atol=0)  # B = 0 in both: the base layer's output
        ours.lora_B.normal_()
        theirs.lora_A["default"].weight.copy_(ours.lora_A)
        theirs.lora_B["default"].weight.copy_(ours.lora_B)
        torch.testing.assert_close(theirs(x), ours(x))
        torch.testing.assert_close(theirs.get_delta_weight("default"), ours.delta_weight())
        theirs.merge()
        torch.testing.assert_close(theirs(x), ours.merge()(x))


def test_inject_matches_peft_on_a_model_with_the_same_a_and_b():
    model, _ = _tiny()
    ours = copy.deepcopy(model)
    names = lora.inject(ours, targets=("q_proj", "v_proj"), r=2, alpha=4)
    theirs = get_peft_model(copy.deepcopy(model), LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    assert lora.count(ours) == lora.count(theirs)
    torch.manual_seed(1)
    with torch.no_grad():
        for name in names:
            layer = ours.get_submodule(name)
            layer.lora_B.normal_(std=0.1)
            peft_layer = theirs.base_model.model.get_submodule(name)
            peft_layer.lora_A["default"].weight.copy_(layer.lora_A)
            peft_layer.lora_B["default"].weight.copy_(layer.lora_B)
        ids = torch.randint(0, 1000, (2, 7))
        torch.testing.assert_close(theirs(input_ids=ids).logits, ours(ids).logits)


def test_peft_model_adapts_the_layers_inject_wraps_and_describes_itself():
    model, _ = _tiny()
    ours = copy.deepcopy(model)
    lora.inject(ours, targets=lora.attention_targets(model), r=2, alpha=4)
    theirs = lora.peft_model(copy.deepcopy(model), r=2, scaling=2.0)
    assert lora.count(theirs) == lora.count(ours)
    text = lora.describe(theirs)
    assert "r=2" in text and "lora_alpha=4" in text and "['q_proj', 'v_proj']" in text
    assert lora.describe(lora.peft_model(copy.deepcopy(model), r=4, scaling=2.0)) != text
