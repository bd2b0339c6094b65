"""Kept training states (core/engine/snapshots.py) and core/engine/rewind.py: back to any earlier step, bit for bit."""
import numpy as np
import pytest

from core.engine.config import preset
from core.engine.fast import fast_forward
from core.engine.rewind import rewind
from core.engine.snapshots import RewindError, SnapshotStore
from core.engine.train import NumericalError, Trainer


def full_state(trainer):
    """Everything the next step depends on, plus the count and the history."""
    return ([p.data for p in trainer.params], list(trainer.adam_m), list(trainer.adam_v),
            trainer.rng.getstate(), trainer.step_index, list(trainer.losses))


def scalar_steps(trainer, count):
    for _ in range(count):
        trainer.step()
    return trainer


def test_rewinding_scalar_steps_equals_a_fresh_run_stopped_there(small_docs):
    trainer = scalar_steps(Trainer(small_docs, preset("original")), 12)
    rewind(trainer, 7)  # between two kept states: restores step 5, retakes 5 and 6
    fresh = scalar_steps(Trainer(small_docs, preset("original")), 7)
    assert full_state(trainer) == full_state(fresh)
    assert trainer.snapshots.steps[-1] == 7  # nothing after the step gone back to is kept


def test_rewind_retakes_each_step_on_the_engine_that_took_it(small_docs):
    # the engines round differently, so a rewind must not swap one for the other
    mixed = Trainer(small_docs, preset("original"))
    fast_forward(mixed, 8)
    scalar_steps(mixed, 3)
    fast_forward(mixed, 9)
    rewind(mixed, 14)
    fresh = Trainer(small_docs, preset("original"))
    fast_forward(fresh, 8)
    scalar_steps(fresh, 3)
    fast_forward(fresh, 3)
    assert full_state(mixed) == full_state(fresh)


def test_rewind_retakes_steps_under_the_learning_rate_they_had_and_keeps_the_current_one(small_docs):
    trainer = scalar_steps(Trainer(small_docs, preset("original")), 3)
    trainer.config = trainer.config.with_changes(learning_rate=0.002)
    scalar_steps(trainer, 6)
    trainer.config = trainer.config.with_changes(learning_rate=0.05)
    rewind(trainer, 8)
    fresh = scalar_steps(Trainer(small_docs, preset("original")), 3)
    fresh.config = fresh.config.with_changes(learning_rate=0.002)
    scalar_steps(fresh, 5)
    assert full_state(trainer) == full_state(fresh)
    assert trainer.config.learning_rate == 0.05


def test_going_on_after_a_rewind_forgets_the_dropped_steps(small_docs):
    trainer = scalar_steps(Trainer(small_docs, preset("original")), 10)
    rewind(trainer, 4)
    scalar_steps(trainer, 2)
    rewind(trainer, 5)
    fresh = scalar_steps(Trainer(small_docs, preset("original")), 5)
    assert full_state(trainer) == full_state(fresh)
    with pytest.raises(RewindError):
        rewind(trainer, 9)  # beyond the current step: those steps were dropped


def test_a_diverged_step_changes_nothing_and_the_last_finite_step_can_be_gone_back_to(small_docs):
    trainer = Trainer(small_docs, preset("original").with_changes(learning_rate=1.0))
    with pytest.raises(NumericalError) as failure:
        scalar_steps(trainer, 200)
    before = full_state(trainer)
    with pytest.raises(NumericalError):
        trainer.step()
    assert full_state(trainer) == before
    last_finite = failure.value.step - 1
    rewind(trainer, last_finite)
    assert trainer.step_index == last_finite
    trainer.step()  # the step whose loss was finite runs again
    assert trainer.step_index == last_finite + 1


def test_an_opened_state_cannot_be_rewound_past(small_docs, tmp_path):
    from core.engine import checkpoint

    trainer = scalar_steps(Trainer(small_docs, preset("original")), 3)
    checkpoint.save(trainer, tmp_path / "state.json")
    resumed = checkpoint.resume(tmp_path / "state.json")
    assert resumed.snapshots.steps == [3]
    scalar_steps(resumed, 2)
    rewind(resumed, 3)
    assert full_state(resumed) == full_state(trainer)
    with pytest.raises(RewindError, match="earliest kept state"):
        rewind(resumed, 1)


def keep_zeros(store, step, size=100):
    zeros = np.zeros(size)
    store.keep(step, zeros, zeros, zeros, (3, (0,) * 625, None))


def test_the_store_stays_within_its_budget_by_thinning_old_states_more_than_new_ones():
    one = 3 * 100 * 8 + 625 * 8
    store = SnapshotStore(budget_bytes=one * 20, every=1)
    for step in range(500):
        keep_zeros(store, step)
    assert store.nbytes <= store.budget_bytes
    steps = store.steps
    assert steps[0] == 0 and steps[-1] == 499
    gaps = np.diff(steps)
    assert gaps[-1] < gaps[: len(gaps) // 2].max()  # near the newest step the states are denser


def test_the_log_says_how_each_step_was_taken_and_refuses_unlogged_ones():
    store = SnapshotStore()
    store.note_steps(0, 3, "scalar", "config a")
    store.note_steps(3, 4, "fast", "config a")
    store.note_steps(7, 1, "fast", "config a")
    store.note_steps(8, 2, "scalar", "config b")
    assert store.how_taken(2, 9) == [("scalar", "config a", 1), ("fast", "config a", 5), ("scalar", "config b", 1)]
    with pytest.raises(RewindError):
        store.how_taken(8, 11)


def test_the_byte_count_follows_keeping_replacing_and_forgetting():
    store = SnapshotStore(every=1)
    for step in (0, 3, 6, 6, 9):  # step 6 kept twice: the second replaces the first
        keep_zeros(store, step)
    one = 3 * 100 * 8 + 625 * 8  # three arrays of 100 floats and an RNG state
    assert store.steps == [0, 3, 6, 9] and store.nbytes == 4 * one
    store.forget_after(4)
    assert store.steps == [0, 3] and store.nbytes == 2 * one


def recorded_steps(trainer, count):
    """The app's Steps: record the step shown, then take it (reusing what the recording computed)."""
    for _ in range(count):
        trainer.record()
        trainer.step()
    return trainer


def test_steps_taken_after_recording_them_rewind_to_a_fresh_plain_run(small_docs):
    trainer = recorded_steps(Trainer(small_docs, preset("original")), 12)
    assert full_state(trainer) == full_state(scalar_steps(Trainer(small_docs, preset("original")), 12))
    trainer.record()  # the step shown when the user goes back
    rewind(trainer, 7)
    assert full_state(trainer) == full_state(scalar_steps(Trainer(small_docs, preset("original")), 7))
    recorded_steps(trainer, 3)
    assert full_state(trainer) == full_state(scalar_steps(Trainer(small_docs, preset("original")), 10))
