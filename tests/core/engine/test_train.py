import math

import pytest

from core.engine.config import preset
from core.engine.data import load_docs
from core.engine.train import NumericalError, PlanFinished, Trainer

SMALL_DOCS = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn"]

REFERENCE = {
    "original": ([3.3630, 3.2917, 3.2618], 60095, 107508, 68563, 123538),
    "latest": ([3.3660, 3.4243, 3.1778], 59647, 107060, 68051, 123026),
}


@pytest.mark.parametrize("name", ["original", "latest"])
def test_first_three_losses_match_the_spec(names_path, name):
    trainer = Trainer(load_docs(names_path), preset(name))
    assert len(trainer.docs) == 32033 and trainer.tokenizer.vocab_size == 27
    losses = [round(trainer.step().loss, 4) for _ in range(3)]
    assert losses == REFERENCE[name][0]
    assert trainer.losses[0] == pytest.approx(losses[0], abs=5e-5)


def test_reset_restores_step_zero():
    trainer = Trainer(SMALL_DOCS, preset("original"))
    first = [trainer.step().loss for _ in range(3)]
    params_after = [p.data for p in trainer.params]
    trainer.reset()
    assert trainer.step_index == 0 and trainer.losses == []
    assert [trainer.step().loss for _ in range(3)] == first
    assert [p.data for p in trainer.params] == params_after


def test_schedules():
    t = Trainer(SMALL_DOCS, preset("original", num_steps=10))
    assert t.learning_rate(0) == pytest.approx(0.01)
    assert t.learning_rate(5) == pytest.approx(0.005)
    t = Trainer(SMALL_DOCS, preset("latest", num_steps=10))
    assert t.learning_rate(5) == pytest.approx(0.005)
    assert t.learning_rate(9) == pytest.approx(0.001)


def test_stepping_past_the_plan_is_refused():
    trainer = Trainer(SMALL_DOCS, preset("original", num_steps=2))
    trainer.step()
    trainer.step()
    assert trainer.finished
    with pytest.raises(PlanFinished):
        trainer.step()
    assert len(trainer.losses) == 2


def test_sampling_uses_the_trainers_rng_and_is_repeatable():
    a = Trainer(SMALL_DOCS, preset("original"))
    b = Trainer(SMALL_DOCS, preset("original"))
    assert a.sample(5) == b.sample(5)
    assert len(a.sample(3)) == 3


def test_record_then_step_matches_plain_step():
    a = Trainer(SMALL_DOCS, preset("original"))
    b = Trainer(SMALL_DOCS, preset("original"))
    trace = a.record()
    result = a.step()
    assert trace.loss == result.loss == b.step().loss
    recorded = a.step(record=True)
    assert recorded.trace.loss == recorded.loss == b.step().loss
    assert [p.data for p in a.params] == [p.data for p in b.params]


def _snapshot(trainer):
    return [p.data for p in trainer.params], list(trainer.adam_m), list(trainer.adam_v), trainer.step_index


def test_nan_step_names_step_and_scope_and_leaves_parameters():
    trainer = Trainer(SMALL_DOCS, preset("original"))
    trainer.step()
    bos_row = trainer.model.state_dict["wte"][trainer.tokenizer.bos]
    bos_row[3].data = float("nan")
    before = _snapshot(trainer)
    with pytest.raises(NumericalError) as info:
        trainer.step()
    message = str(info.value)
    assert "step 2" in message and "pos0/embed" in message
    assert info.value.scope.startswith("pos0/embed")
    assert math.isnan(_snapshot(trainer)[0][trainer.params.index(bos_row[3])])
    after = _snapshot(trainer)
    assert [x for x in after[0] if x == x] == [x for x in before[0] if x == x]
    assert after[1:] == before[1:]
    assert all(p.grad == 0 for p in trainer.params)


def test_log_of_zero_names_the_loss_scope():
    trainer = Trainer(SMALL_DOCS, preset("original"))
    doc = trainer.doc_for_step(0)
    target = trainer.tokenizer.encode(doc)[1]
    for value in trainer.model.state_dict["lm_head"][target]:
        value.data = -1e6  # the first target's probability underflows to exactly 0
    trainer.model.state_dict["wte"][trainer.tokenizer.bos][0].data = 1.0
    before = _snapshot(trainer)
    with pytest.raises(NumericalError, match=r"step 1 diverged in pos0/loss: log of zero"):
        trainer.step()
    assert _snapshot(trainer) == before


def test_overflow_names_its_scope():
    trainer = Trainer(SMALL_DOCS, preset("original"))
    for row in trainer.model.state_dict["layer0.mlp_fc1"]:
        for value in row:
            value.data = 1e200  # fc1 outputs ~1e200; relu(x) ** 2 overflows
    before = _snapshot(trainer)
    with pytest.raises(NumericalError, match="overflow") as info:
        trainer.step()
    assert info.value.scope == "pos0/layer0/mlp/relu2"
    assert _snapshot(trainer) == before and trainer.losses == []


def _bits(numbers):
    """Floats as their exact bit patterns (== would let 0.0 and -0.0 pass as one)."""
    return [float(x).hex() for x in numbers]


def _full_state_bits(trainer):
    return (_bits(p.data for p in trainer.params), _bits(trainer.adam_m), _bits(trainer.adam_v), _bits(trainer.losses),
            trainer.rng.getstate(), trainer.step_index)


@pytest.fixture
def forward_passes(monkeypatch):
    """How many plain (unrecorded) forward passes the Trainer has run since the test began."""
    import core.engine.train as train

    calls = []
    real = train.step_loss
    monkeypatch.setattr(train, "step_loss", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


@pytest.mark.parametrize("name", ["original", "latest"])
def test_a_step_after_recording_it_reuses_the_recording_and_equals_the_plain_path_bit_for_bit(name, forward_passes):
    # the app's Step: record the step shown, then take it; the update reuses the recording's grads and loss
    shown = Trainer(SMALL_DOCS, preset(name))
    plain = Trainer(SMALL_DOCS, preset(name))
    for _ in range(6):
        trace = shown.record()
        before = len(forward_passes)
        assert shown.step().loss == trace.loss
        assert len(forward_passes) == before  # no forward pass of its own: the recording's numbers
        plain.step()
        assert _full_state_bits(shown) == _full_state_bits(plain)
    assert shown.sample(3) == plain.sample(3)


def test_a_step_recomputes_when_anything_changed_since_the_recording(forward_passes):
    shown = Trainer(SMALL_DOCS, preset("original"))
    plain = Trainer(SMALL_DOCS, preset("original"))
    shown.record()
    for trainer in (shown, plain):  # a parameter written in between (a what-if, an opened state) voids the recording
        trainer.params[3].data += 0.25
    before = len(forward_passes)
    shown.step()
    assert len(forward_passes) == before + 1
    plain.step()
    assert _full_state_bits(shown) == _full_state_bits(plain)

    shown.record("mila")  # another doc than the one the next step trains on
    before = len(forward_passes)
    shown.step()
    plain.step()
    assert len(forward_passes) == before + 2
    assert _full_state_bits(shown) == _full_state_bits(plain)

    shown.record()
    shown.reset()  # a reset makes another model: nothing recorded before it counts
    plain.reset()
    before = len(forward_passes)
    shown.step()
    assert len(forward_passes) == before + 1
    plain.step()
    assert _full_state_bits(shown) == _full_state_bits(plain)


def test_a_recording_serves_one_step_only(forward_passes):
    trainer = Trainer(SMALL_DOCS, preset("original"))
    trainer.record()
    trainer.step()
    before = len(forward_passes)
    trainer.step()  # the next doc, new parameters: computed afresh
    assert len(forward_passes) == before + 1
