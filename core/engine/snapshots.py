"""Training you can rewind: the Trainer's state kept every few steps, in memory, within a byte budget.

A Snapshot is everything a step depends on: parameters, both Adam moments and the RNG state.
The store also logs how every step was taken (which engine, under which config: the learning
rate can change mid-run), because the two engines round differently: going back to step K
restores the nearest kept state at or before K and retakes the steps after it exactly as they
were taken, so the result is bit for bit the state the run had at K.

Old snapshots are thinned, not the recent ones: when the budget is exceeded the snapshot whose
removal leaves the smallest gap relative to its age goes, so spacing grows with distance from
the newest step. Step 0 (or the first step kept, after an opened checkpoint) always stays.
"""
from dataclasses import dataclass

import numpy as np

DEFAULT_BUDGET_BYTES = 32 * 2**20  # 'original' (4,192 params, ~100 kB a state): ~320 states; 200k params: ~7
DEFAULT_EVERY = 5  # keep a state every this many steps; retaking at most 4 scalar steps is about a second
RNG_STATE_BYTES = 625 * 8  # random.getstate(): 624 words and a position


class RewindError(ValueError):
    """A step that cannot be gone back to, with a one-line reason."""


@dataclass(frozen=True, eq=False)
class Snapshot:
    step: int  # updates taken before this state = index of the next step
    params: np.ndarray  # float64, the trainer's parameter order
    adam_m: np.ndarray
    adam_v: np.ndarray
    rng_state: tuple  # random.Random.getstate()

    @property
    def nbytes(self):
        return self.params.nbytes + self.adam_m.nbytes + self.adam_v.nbytes + RNG_STATE_BYTES


@dataclass(frozen=True)
class StepsTaken:
    """A run of consecutive steps taken the same way."""

    first: int
    count: int
    engine: str  # "scalar" (core/engine/train.py) or "fast" (core/engine/fast.py)
    config: object  # core.engine.config.Config in effect (its learning rate, schedule)

    @property
    def end(self):
        return self.first + self.count


class SnapshotStore:
    def __init__(self, budget_bytes=DEFAULT_BUDGET_BYTES, every=DEFAULT_EVERY):
        if budget_bytes <= 0 or every < 1:
            raise ValueError("the snapshot budget must be positive and the interval at least 1")
        self.budget_bytes = budget_bytes
        self.every = every
        self._snapshots = {}  # step -> Snapshot
        self._nbytes = 0  # of the snapshots kept (kept up to date: thinning checks it after every keep)
        self._log = []  # StepsTaken, in order, contiguous

    # ---- what is kept -------------------------------------------------------------------
    @property
    def steps(self):
        """The steps whose state is kept, oldest first."""
        return sorted(self._snapshots)

    @property
    def nbytes(self):
        return self._nbytes

    @property
    def earliest(self):
        """The first step that can be gone back to, or None when nothing is kept."""
        return min(self._snapshots) if self._snapshots else None

    def wants(self, step):
        """Whether the state at `step` should be kept (every few steps, and whenever nothing is kept yet)."""
        return not self._snapshots or step % self.every == 0

    def keep(self, step, params, adam_m, adam_v, rng_state):
        """Keep a copy of this state (arrays are copied, so the caller may go on changing its own)."""
        snapshot = Snapshot(step, np.array(params, dtype=np.float64), np.array(adam_m, dtype=np.float64),
                            np.array(adam_v, dtype=np.float64), rng_state)
        if snapshot.nbytes > self.budget_bytes:
            raise RewindError(f"one training state takes {snapshot.nbytes:,} bytes, more than the whole budget")
        self._drop(step)
        self._snapshots[step] = snapshot
        self._nbytes += snapshot.nbytes
        self._thin()
        return snapshot

    def nearest(self, step):
        """The kept snapshot closest before or at `step`."""
        before = [s for s in self._snapshots if s <= step]
        if not before:
            raise RewindError(f"step {step} is before the earliest kept state (step {self.earliest})")
        return self._snapshots[max(before)]

    def forget_after(self, step):
        """Drop everything after `step` (going back there makes the later steps never have happened)."""
        for later in [s for s in self._snapshots if s > step]:
            self._drop(later)
        log = []
        for run in self._log:
            if run.first >= step:
                break
            log.append(run if run.end <= step else StepsTaken(run.first, step - run.first, run.engine, run.config))
        self._log = log

    def clear(self):
        self._snapshots.clear()
        self._nbytes = 0
        self._log.clear()

    def _drop(self, step):
        snapshot = self._snapshots.pop(step, None)
        if snapshot is not None:
            self._nbytes -= snapshot.nbytes

    def _thin(self):
        while self.nbytes > self.budget_bytes and len(self._snapshots) > 2:
            steps = self.steps
            newest = steps[-1]

            def cost(i):  # the gap removing steps[i] would leave, relative to how old it is
                return (steps[i + 1] - steps[i - 1]) / (newest - steps[i] + 1)

            victim = min(range(1, len(steps) - 1), key=lambda i: (cost(i), steps[i]))
            self._drop(steps[victim])

    # ---- how steps were taken -----------------------------------------------------------
    def note_steps(self, first, count, engine, config):
        """Log that steps first .. first+count-1 were taken by `engine` under `config`."""
        if count <= 0:
            return
        end = self._log[-1].end if self._log else first
        if first < end:  # taken again from an earlier state (put back by hand): what followed is void
            self.forget_after(first)
        elif first > end:  # a gap: the steps logged before cannot be retaken through it
            self._log = []
        last = self._log[-1] if self._log else None
        if last is not None and last.engine == engine and last.config == config:
            self._log[-1] = StepsTaken(last.first, last.count + count, engine, config)
        else:
            self._log.append(StepsTaken(first, count, engine, config))

    def how_taken(self, first, end):
        """[(engine, config, count)] for steps first .. end-1, in order; RewindError if a step is not logged."""
        plan, step = [], first
        for run in self._log:
            if step >= end:
                break
            if run.end <= step:
                continue
            if run.first > step:
                break
            count = min(run.end, end) - step
            plan.append((run.engine, run.config, count))
            step += count
        if step < end:
            raise RewindError(f"step {step} was not taken in this session, so it cannot be retaken")
        return plan
