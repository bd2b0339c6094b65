"""The engine-backed model reproduces the plainly written spec step bit for bit."""
import random

import pytest

from core.engine.config import ConfigError, Config, preset
from core.engine.model import GPT
from core.engine.reference import plain_copy, plain_step
from core.engine.model import step_loss
from core.engine.train import Trainer

SMALL_DOCS = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn"]


def reachable(root):
    seen, stack, edges = {root}, [root], 0
    while stack:
        v = stack.pop()
        edges += len(v._children)
        for c in v._children:
            if c not in seen:
                seen.add(c)
                stack.append(c)
    return len(seen), edges


@pytest.mark.parametrize("name", ["original", "latest"])
@pytest.mark.parametrize("doc", ["emma", "isabella", "mia"])
def test_engine_step_equals_plain_spec_step(name, doc):
    trainer = Trainer(SMALL_DOCS, preset(name))
    # make the later matrices non-zero so every path carries gradient
    rng = random.Random(1)
    for p in trainer.params:
        p.data += rng.gauss(0, 0.05)
    tokens = trainer.tokenizer.encode(doc)
    reference = plain_copy(trainer.model)
    ref_loss = plain_step(reference, trainer.config, tokens)
    loss, _ = step_loss(trainer.model, tokens)
    loss.backward()
    assert loss.data == ref_loss.data  # bit for bit
    assert reachable(loss) == reachable(ref_loss)
    ref_params = [p for mat in reference.values() for row in mat for p in row]
    assert [p.grad for p in trainer.params] == [p.grad for p in ref_params]


def test_parameter_counts_and_init_order():
    docs = list("abcdefghijklmnopqrstuvwxyz")  # vocab 27, as names.txt
    assert len(Trainer(docs, preset("original")).params) == 4064
    assert len(Trainer(docs, preset("latest")).params) == 4192
    # the RNG is the trainer's own: init draws shuffle first, then wte row 0 ...
    rng = random.Random(42)
    shuffled = list(docs)
    rng.shuffle(shuffled)
    first = rng.gauss(0, 0.08)
    assert Trainer(docs, preset("latest")).model.state_dict["wte"][0][0].data == first


def test_zero_std_matrices_still_draw_from_the_rng():
    docs = ["abc"]
    t = Trainer(docs, preset("original"))
    assert all(p.data == 0 for row in t.model.state_dict["layer0.attn_wo"] for p in row)
    assert any(p.data != 0 for row in t.model.state_dict["layer0.mlp_fc1"] for p in row)
    # lm_head comes before the zeroed matrices and fc1 after attn_wo: fc1 differs from a
    # model that skipped attn_wo's draws
    rng = random.Random(42)
    rng.shuffle(list(docs))
    model = GPT(Config(), 4, rng)
    assert model.state_dict["layer0.mlp_fc1"][0][0].data == t.model.state_dict["layer0.mlp_fc1"][0][0].data


def test_global_random_is_untouched():
    random.seed(123)
    expected = random.random()
    random.seed(123)
    Trainer(SMALL_DOCS, preset("original")).step()
    assert random.random() == expected


@pytest.mark.parametrize(
    "changes",
    [dict(n_embd=10, n_head=4), dict(n_layer=0), dict(block_size=-1), dict(n_embd=0), dict(num_steps=0), dict(activation="gelu")],
)
def test_invalid_configs_are_refused(changes):
    with pytest.raises(ConfigError):
        preset("original", **changes)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown preset"):
        preset("newest")


@pytest.mark.parametrize("name", ["original", "latest"])
def test_whole_step_gradient_matches_finite_differences(name):
    trainer = Trainer(SMALL_DOCS, preset(name))
    rng = random.Random(7)
    for p in trainer.params:
        p.data += rng.gauss(0, 0.1)
    tokens = trainer.tokenizer.encode("amelia")
    loss, _ = step_loss(trainer.model, tokens)
    loss.backward()
    grads = [p.grad for p in trainer.params]
    names = [loc for loc in trainer.model.param_locations()]
    checked = 0
    for i in rng.sample(range(len(trainer.params)), 40):
        p = trainer.params[i]
        original, h = p.data, 1e-5
        p.data = original + h
        up = step_loss(trainer.model, tokens)[0].data
        p.data = original - h
        down = step_loss(trainer.model, tokens)[0].data
        p.data = original
        numeric = (up - down) / (2 * h)
        assert grads[i] == pytest.approx(numeric, rel=1e-4, abs=1e-8), names[i]
        checked += grads[i] != 0
    assert checked > 10  # the sample really exercised non-zero gradients


@pytest.mark.parametrize("name", ["original", "latest"])
def test_deep_config_runs_without_recursion_error(name):
    trainer = Trainer(["abcdefghijklmnopqrstuvwxyz"], preset(name, n_layer=4, block_size=16))
    result = trainer.step()
    assert result.loss > 0
