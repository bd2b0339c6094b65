"""The NumPy fast-forward engine against the scalar engine it shares its state with."""
import math

import numpy as np
import pytest

from core.engine.config import preset
from core.engine.fast import FastTrainer, fast_forward
from core.engine.train import NumericalError, PlanFinished, Trainer
from microgpt_viz.cli.main import main

DOCS = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn", "abigail", "emily", "ella"]
PRESETS = ("original", "latest")
TOLERANCE = 1e-6


def state(trainer):
    return {
        "params": np.array([p.data for p in trainer.params]),
        "adam_m": np.array(trainer.adam_m),
        "adam_v": np.array(trainer.adam_v),
        "losses": np.array(trainer.losses),
        "step_index": trainer.step_index,
    }


def assert_same_state(a, b, tolerance=TOLERANCE):
    sa, sb = state(a), state(b)
    assert sa["step_index"] == sb["step_index"]
    for key in ("params", "adam_m", "adam_v", "losses"):
        assert sa[key].shape == sb[key].shape, key
        assert np.abs(sa[key] - sb[key]).max(initial=0.0) <= tolerance, key


@pytest.mark.parametrize("name", PRESETS)
def test_fast_forward_then_a_scalar_step_equals_scalar_steps(name):
    n = 12
    scalar, mixed = Trainer(DOCS, preset(name)), Trainer(DOCS, preset(name))
    for _ in range(n + 1):
        scalar.step()
    assert fast_forward(mixed, n) and mixed.step_index == n
    result = mixed.step(record=True)  # the scalar engine records step n+1 from the fast state
    assert result.step == n
    assert_same_state(scalar, mixed)
    assert result.loss == pytest.approx(scalar.losses[-1], abs=TOLERANCE)
    # the state is truly shared: the trace reads the written-back parameters
    wte = result.trace.param_nodes["wte"][0]
    attrs = result.trace.graph.nodes[wte]
    assert attrs["data"] != Trainer(DOCS, preset(name)).model.state_dict["wte"][attrs["row"]][attrs["col"]].data


@pytest.mark.parametrize("name", PRESETS)
def test_losses_agree_with_the_scalar_engine(name):
    steps = 36
    scalar, fast_trainer = Trainer(DOCS, preset(name)), Trainer(DOCS, preset(name))
    expected = [scalar.step().loss for _ in range(steps)]
    fast = FastTrainer.from_trainer(fast_trainer)
    got = [fast.step() for _ in range(steps)]
    assert max(abs(a - b) for a, b in zip(expected, got)) <= TOLERANCE
    assert got[0] == pytest.approx(math.log(Trainer(DOCS, preset(name)).tokenizer.vocab_size), abs=0.3)
    fast.write_back(fast_trainer)
    assert_same_state(scalar, fast_trainer)


@pytest.mark.parametrize("name", PRESETS)
def test_other_shapes_agree_too(name):
    shape = dict(n_layer=2, n_embd=8, n_head=2, block_size=5)  # the hidden --n-layer etc.
    scalar, fast_trainer = Trainer(DOCS, preset(name, **shape)), Trainer(DOCS, preset(name, **shape))
    expected = [scalar.step().loss for _ in range(8)]
    assert max(abs(a - b) for a, b in zip(expected, fast_forward(fast_trainer, 8))) <= TOLERANCE
    assert_same_state(scalar, fast_trainer)


def test_fast_forward_in_chunks_resumes_where_it_stopped():
    whole, chunked = Trainer(DOCS, preset("latest")), Trainer(DOCS, preset("latest"))
    fast_forward(whole, 20)
    fast_forward(chunked, 7)
    chunked.step()  # a scalar step in between
    fast_forward(chunked, 12)
    assert chunked.step_index == whole.step_index == 20
    assert_same_state(whole, chunked)


def test_reset_after_fast_forward_is_a_fresh_start():
    trainer = Trainer(DOCS, preset("original"))
    fresh = state(Trainer(DOCS, preset("original")))
    fast_forward(trainer, 10)
    assert np.abs(state(trainer)["params"] - fresh["params"]).max() > 1e-4
    trainer.reset()
    assert trainer.step_index == 0 and trainer.losses == []
    assert np.array_equal(state(trainer)["params"], fresh["params"])
    assert not any(trainer.adam_m) and not any(trainer.adam_v)
    # and it trains exactly as a new trainer does
    again = Trainer(DOCS, preset("original"))
    fast_forward(trainer, 3)
    fast_forward(again, 3)
    assert_same_state(trainer, again, tolerance=0.0)


def test_values_keep_their_identity_and_grads_are_clear():
    trainer = Trainer(DOCS, preset("latest"))
    params = list(trainer.params)
    first = trainer.model.state_dict["lm_head"][0][0]
    fast_forward(trainer, 5)
    assert all(a is b for a, b in zip(params, trainer.params))
    assert trainer.model.state_dict["lm_head"][0][0] is first
    assert all(p.grad == 0 for p in trainer.params)
    assert all(type(x) is float for x in trainer.adam_m[:10] + trainer.losses)


def test_cancel_between_steps_and_report_progress():
    trainer = Trainer(DOCS, preset("latest"))
    reports = []
    losses = fast_forward(trainer, 50, progress=lambda done, total, loss: reports.append((done, total, loss)), should_stop=lambda: len(reports) >= 4)
    assert len(losses) == 4 and trainer.step_index == 4 and trainer.losses == losses
    assert [(d, t) for d, t, _ in reports] == [(1, 50), (2, 50), (3, 50), (4, 50)]
    assert [loss for _, _, loss in reports] == losses


def test_throttled_progress_still_reports_the_last_step():
    trainer = Trainer(DOCS, preset("latest"))
    reports = []
    fast_forward(trainer, 9, progress=lambda *r: reports.append(r), progress_interval_s=3600)
    assert reports == [(9, 9, trainer.losses[-1])]


def test_the_plan_end_stops_a_run():
    trainer = Trainer(DOCS, preset("original", num_steps=6))
    assert len(fast_forward(trainer, 10)) == 6
    assert trainer.finished
    with pytest.raises(PlanFinished):
        FastTrainer.from_trainer(trainer).step()


def test_a_diverging_step_keeps_the_steps_before_it():
    trainer = Trainer(DOCS, preset("original"))
    fast_forward(trainer, 2)
    trainer.model.state_dict["lm_head"][3][1].data = math.inf
    before = state(trainer)
    with pytest.raises(NumericalError, match="step 3 diverged"):
        fast_forward(trainer, 5)
    after = state(trainer)
    assert after["step_index"] == 2
    assert np.array_equal(after["params"], before["params"])
    assert np.array_equal(after["adam_m"], before["adam_m"])


def test_write_back_refuses_a_trainer_that_moved_on():
    trainer = Trainer(DOCS, preset("original"))
    fast = FastTrainer.from_trainer(trainer)
    fast.step()
    trainer.step()
    with pytest.raises(ValueError, match="write_back"):
        fast.write_back(trainer)


def test_train_fast_prints_the_reference_losses(names_path, capsys):
    assert main(["train", "--data", str(names_path), "--fast", "--until", "3", "--samples", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == ["num docs: 32033", "vocab size: 27", "num params: 4064"]
    assert lines[3:] == [
        "step    1 /  500 | loss 3.3630",
        "step    2 /  500 | loss 3.2917",
        "step    3 /  500 | loss 3.2618",
    ]


def test_train_fast_prints_what_train_prints(names_path, capsys):
    args = ["train", "--data", str(names_path), "--preset", "latest", "--until", "4", "--samples", "3"]
    assert main(args) == 0
    scalar = capsys.readouterr().out
    assert main(args + ["--fast"]) == 0
    assert capsys.readouterr().out == scalar
