"""Training off the GUI thread: every job that touches the Trainer runs in one worker thread.

The GUI submits jobs (record, step, run N, reset, sample, change the learning rate); the
worker runs them one after another and hands back plain snapshots (microgpt_viz.stepping.
Advance: floats and frozen Traces). While a job runs the GUI never touches the Trainer;
Cancel sets a flag the run checks between steps, so it stops cleanly after the current one.
"""
import sys
import threading

from PyQt6.QtCore import QObject, pyqtSignal

from core.train import Trainer
from microgpt_viz import stepping
from microgpt_viz.jobs import JobRunner


class TrainingController(QObject):
    """The GUI's handle on the Trainer. Signals arrive in the GUI thread."""

    busyChanged = pyqtSignal(bool)
    # what is going on, for the status line and the progress bar: text, done, total (0 = unknown)
    progress = pyqtSignal(str, int, int)
    stepped = pyqtSignal(float)  # loss of one update, as soon as it is known (live loss curve)
    advanced = pyqtSignal(object)  # stepping.Advance after record / step / run
    trainerReset = pyqtSignal(object)  # stepping.Advance holding step 0 of a reset or rebuilt trainer
    sampled = pyqtSignal(list)  # generated names
    failed = pyqtSignal(str, str)  # title, one-line message

    # While the worker computes, every call from Qt into Python on the GUI thread (a paint(),
    # a slot) must win the GIL back; Python hands it over only every switch interval (5 ms
    # by default), so one repaint of a few dozen Python items could stall for 100+ ms.
    # 1 ms keeps the window fluid and costs training nothing measurable.
    GIL_SWITCH_INTERVAL_S = 0.001

    def __init__(self, trainer, parent=None):
        super().__init__(parent)
        sys.setswitchinterval(min(sys.getswitchinterval(), self.GIL_SWITCH_INTERVAL_S))
        self.trainer = trainer  # read by the GUI only while no job runs
        self._cancel = threading.Event()
        self._runner = JobRunner("microgpt-viz training", self)
        self._runner.busyChanged.connect(self._busy_changed)

    @property
    def busy(self):
        return self._runner.busy

    # ---- jobs -----------------------------------------------------------------------
    def record(self):
        """Record the step the trainer takes next (the first thing the app does)."""
        self._start(lambda: stepping.advance(self.trainer, 0), f"recording step {self.trainer.step_index + 1}", self.advanced.emit)

    def step(self):
        """One Adam update, then record the next step."""
        self.run(1)

    def run(self, count):
        """`count` updates (Cancel stops between two), then record the step after them."""
        self._cancel.clear()
        first = self.trainer.step_index + 1

        def on_step(done, loss):  # runs in the worker thread; signals cross over queued
            self.stepped.emit(loss)
            self.progress.emit(f"update {first + done - 1}: loss {loss:.4f}", done, count)

        def job():
            return stepping.advance(self.trainer, count, self._cancel.is_set, on_step)

        self._start(job, f"training {count} step{'s' if count != 1 else ''}", self._after_advance, total=count)

    def cancel(self):
        """Stop a run after the update in progress (the next step is still recorded)."""
        self._cancel.set()

    def reset(self, config=None, docs=None):
        """Back to step 0, optionally with another config (preset, learning rate) or other documents."""
        def job():
            if docs is not None:
                self.trainer = Trainer(docs, config or self.trainer.config)
            else:
                if config is not None:
                    self.trainer.config = config.validate()
                self.trainer.reset()
            return stepping.advance(self.trainer, 0)

        self._start(job, "resetting to step 0", self._after_reset)

    def set_learning_rate(self, lr):
        """Applies from the next update on; the schedule still scales it."""
        def job():
            self.trainer.config = self.trainer.config.with_changes(learning_rate=lr)

        self._start(job, "", lambda _: None)

    def sample(self, count=10):
        self._start(lambda: stepping.sample_names(self.trainer, count), "sampling names", self.sampled.emit)

    def shutdown(self):
        self._cancel.set()
        self._runner.shutdown()

    # ---- plumbing -------------------------------------------------------------------
    def _after_advance(self, advance):
        self.advanced.emit(advance)
        if advance.error:
            self.failed.emit("Training stopped", advance.error)

    def _after_reset(self, advance):
        self.trainerReset.emit(advance)
        if advance.error:
            self.failed.emit("Could not record step 1", advance.error)

    def _start(self, job, text, on_done, total=0):
        if text:
            self.progress.emit(text, 0, total)
        self._runner.submit(job, on_done, self._on_error)

    def _on_error(self, error):
        self.failed.emit("Training failed", str(error) or type(error).__name__)

    def _busy_changed(self, busy):
        if not busy:
            self.progress.emit("", 0, 0)
        self.busyChanged.emit(busy)
