"""Going back to an earlier training step, bit for bit as the run had it.

The Trainer keeps its state every few steps (core/engine/snapshots.py) and logs how each step
was taken. Going back to step K puts the nearest kept state at or before K back and retakes
the steps from there on the engine and under the config that took them: the scalar and the
NumPy engines round differently, so retaking a fast-forwarded step on the scalar engine (or
the other way round) would land on other numbers. This module sits above both engines.
"""
from core.engine.fast import fast_forward
from core.engine.snapshots import RewindError


def rewind(trainer, step):
    """Back to the state before step `step`; what came after it is dropped.

    Each retaken loss must be the one the run recorded, or RewindError. The config the trainer
    has now (a learning rate just chosen) stays for the steps after. If a retake fails halfway,
    the trainer is consistent at the step it reached (its losses and kept states agree).
    """
    if not 0 <= step <= trainer.step_index:
        raise RewindError(f"step {step} is not between 0 and the current step {trainer.step_index}")
    store = trainer.snapshots
    snapshot = store.nearest(step)
    plan = store.how_taken(snapshot.step, step)
    recorded = list(trainer.losses)
    if len(recorded) < step:
        raise RewindError(f"the loss history holds {len(recorded)} steps, fewer than {step}")
    current_config = trainer.config
    trainer.restore_state(snapshot)
    trainer.losses = recorded[:snapshot.step]
    store.forget_after(snapshot.step)
    try:
        for engine, config, count in plan:
            trainer.config = config
            _retake(trainer, engine, count)
    finally:
        trainer.config = current_config
    if trainer.losses != recorded[:step]:
        raise RewindError(f"retaking steps {snapshot.step} to {step - 1} gave other losses than the run had")
    if store.nearest(step).step != step:
        trainer.keep_state()


def _retake(trainer, engine, count):
    if engine == "fast":
        fast_forward(trainer, count)
    else:
        for _ in range(count):
            trainer.step()
