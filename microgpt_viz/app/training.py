"""Training off the GUI thread: every job that touches the Trainer runs in one worker thread.

The GUI submits jobs (record, step, run N, reset, sample, change the learning rate, swap in
another Trainer, record a given doc, record a user's script); the worker runs them one after
another and hands back plain snapshots (microgpt_viz.session.stepping.Advance: floats and frozen
Traces). While a job runs the GUI never touches the Trainer; Cancel sets a flag the run
checks between steps, so it stops cleanly after the current one.
"""
import sys
import threading
import traceback
from pathlib import Path

from PyQt6.QtCore import QObject, pyqtSignal

from core.script import run as scripts
from core.engine.train import Trainer
from microgpt_viz.session import stepping
from microgpt_viz.app.jobs import JobRunner


class TrainingController(QObject):
    """The GUI's handle on the Trainer. Signals arrive in the GUI thread."""

    busyChanged = pyqtSignal(bool)
    # what is going on, for the status line and the progress bar: text, done, total (0 = unknown)
    progress = pyqtSignal(str, int, int)
    # losses of the updates just taken, in order, as soon as they are known (live loss curve);
    # the fast engine hands them over in batches, a few times a second
    stepped = pyqtSignal(list)
    advanced = pyqtSignal(object)  # stepping.Advance after record / step / run
    trainerReset = pyqtSignal(object)  # stepping.Advance holding step 0 of a reset or rebuilt trainer
    rewound = pyqtSignal(object)  # stepping.Advance after going back: the whole loss history, the step gone back to
    sampled = pyqtSignal(list)  # generated names
    failed = pyqtSignal(str, str, str)  # title, one-line message, details ("" when the message says it all)
    diverged = pyqtSignal(object)  # stepping.Advance of a run a diverged step ended (its diverged_at is set)

    # While the worker computes, every call from Qt into Python on the GUI thread (a paint(),
    # a slot) must win the GIL back, and so must every numpy call that let it go: the worker
    # takes it at once and keeps it for a whole switch interval. A token click runs a few
    # hundred small numpy calls, so at 1 ms it took 0.25-0.3 s during a scalar Run (10 ms
    # idle); at 0.1 ms it answers in ~30 ms. Training only pays when the GUI is busy.
    GIL_SWITCH_INTERVAL_S = 0.0001

    def __init__(self, trainer, parent=None):
        super().__init__(parent)
        sys.setswitchinterval(min(sys.getswitchinterval(), self.GIL_SWITCH_INTERVAL_S))
        self.trainer = trainer  # read by the GUI only while no job runs
        self.fast = True  # Run N takes its updates on the NumPy engine (Step always takes a scalar one)
        # token positions whose loss cones a recorded step gets ready in the worker (the one on screen)
        self.positions_to_prepare = ()
        self._cancel = threading.Event()
        self._runner = JobRunner("microgpt-viz training", self)
        self._runner.busyChanged.connect(self._busy_changed)

    @property
    def busy(self):
        return self._runner.busy

    # ---- jobs -----------------------------------------------------------------------
    def record(self):
        """Record the step the trainer takes next (the first thing the app does)."""
        self._start(lambda: stepping.advance(self.trainer, 0, positions=self.positions_to_prepare),
                    f"recording step {self.trainer.step_index}", self.advanced.emit)

    def step(self):
        """One Adam update on the scalar engine, then record the next step."""
        self.run(1, fast=False)

    def run(self, count, fast=None):
        """`count` updates (Cancel stops between two), then record the step after them.

        fast: take the updates on the NumPy engine (default: self.fast); the step after
        them is recorded on the scalar engine either way.
        """
        self._cancel.clear()
        first = self.trainer.step_index  # the index of the first step this run trains on
        fast = self.fast if fast is None else fast

        def on_losses(done, losses):  # runs in the worker thread; signals cross over queued
            self.stepped.emit(losses)
            self.progress.emit(f"step {first + done - 1}: loss {losses[-1]:.4f}", done, count)

        def job():
            return stepping.advance(self.trainer, count, self._cancel.is_set, fast=fast, on_losses=on_losses,
                                    positions=self.positions_to_prepare)

        engine = " (fast-forward)" if fast and count > 1 else ""
        self._start(job, f"training {count} step{'s' if count != 1 else ''}{engine}", self._after_advance, total=count)

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

    def rewind(self, step):
        """Go back to the state before `step` exactly (core.engine.rewind) and record that step."""
        def job():
            return stepping.rewind(self.trainer, step)

        def done(advance):
            self.rewound.emit(advance)
            if advance.error:
                self.failed.emit(f"Could not go back to step {step}", advance.error, advance.details or "")

        self._start(job, f"going back to step {step}", done)

    def set_learning_rate(self, lr):
        """Applies from the next update on; the schedule still scales it."""
        def job():
            self.trainer.config = self.trainer.config.with_changes(learning_rate=lr)

        self._start(job, "", lambda _: None)

    def sample(self, count=10):
        self._start(lambda: stepping.sample_names(self.trainer, count), "sampling names", self.sampled.emit)

    def replace_trainer(self, trainer, on_done=None, what="Could not record the next step"):
        """Go on with another Trainer (a resumed checkpoint, say): its next step is recorded in
        the worker, then trainerReset reports it with the new trainer's loss history.

        If that step cannot be recorded, the old trainer stays and `failed` says why.
        """
        def job():
            result = stepping.advance(trainer, 0)
            if result.trace is None:
                return result
            self.trainer = trainer  # in the worker: no other job can be using the old one now
            result.losses = list(trainer.losses)
            return result

        def done(result):
            if result.trace is None:
                why = result.error or f"all {trainer.planned_steps} planned steps of it are done, so there is no next step to show"
                self.failed.emit(what, why, result.details or "")
                return
            self.trainerReset.emit(result)
            if on_done is not None:
                on_done(result)

        self._start(job, f"recording step {trainer.step_index}", done)

    def record_doc(self, doc, on_done, on_error):
        """Record `doc` at the current parameters (no update): on_done(Trace) or on_error(one-line text)."""
        def job():
            trainer = self.trainer
            return stepping.built_quietly(lambda: trainer.record(trainer.tokenizer.check(doc)))

        def failed(error):
            if isinstance(error, (ArithmeticError, ValueError, RuntimeError)):
                on_error(str(error))
            else:
                self._on_error(error)

        self._start(job, f"recording {doc!r}", on_done, on_error=failed)

    def record_script(self, path, args=(), cwd=None, timeout=None, on_done=None, on_error=None):
        """Run a user's script up to its first backward() (core/script/run.py); Cancel stops it.

        on_done(Trace) or on_error(exception: a core.script.run.ScriptError for the script's own
        failures, kind "cancelled" after Cancel). The trainer is not touched.
        """
        self._cancel.clear()

        def job():
            timeout_s = timeout or scripts.DEFAULT_TIMEOUT
            return stepping.built_quietly(lambda: scripts.record_script(path, args, cwd=cwd, timeout=timeout_s, should_stop=self._cancel.is_set))

        self._start(job, f"running {Path(path).name} up to its first backward()…", on_done, on_error=on_error)

    def run_job(self, job, text, on_done, on_error=None, total=0):
        """Run another job in the training worker (a user's script's steps: app/script_training.py),
        with the busy state, progress and Cancel of training's own; the job polls stop_requested()."""
        self._cancel.clear()
        self._start(job, text, on_done, total=total, on_error=on_error)

    def stop_requested(self):
        return self._cancel.is_set()

    def shutdown(self):
        self._cancel.set()
        self._runner.shutdown()

    # ---- plumbing -------------------------------------------------------------------
    def _after_advance(self, advance):
        self.advanced.emit(advance)
        if advance.diverged_at is not None:
            self.diverged.emit(advance)
        elif advance.error:
            self.failed.emit("Training stopped", advance.error, advance.details or "")

    def _after_reset(self, advance):
        self.trainerReset.emit(advance)
        if advance.error:
            self.failed.emit("Could not record step 0", advance.error, advance.details or "")

    def _start(self, job, text, on_done, total=0, on_error=None):
        if text:
            self.progress.emit(text, 0, total)
        self._runner.submit(job, on_done, on_error or self._on_error)

    def _on_error(self, error):
        details = "".join(traceback.format_exception(error))
        self.failed.emit("Training failed", f"{type(error).__name__}: {error}", details)

    def _busy_changed(self, busy):
        if not busy:
            self.progress.emit("", 0, 0)
        self.busyChanged.emit(busy)
