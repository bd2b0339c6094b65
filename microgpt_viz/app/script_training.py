"""A user's script's training loop in the window: its process, kept paused between steps, and the jobs that step it.

The script runs in a child process of its own (core/script/paused.py), paused at the
backward() call whose step is on screen. Stepping it is a job of the training worker, so
the window's busy state, progress bar and Cancel work as for the built-in model: Step lets
it run to its next backward(), Run N N calls on (the steps in between run unrecorded at the
script's own speed), Reset starts it again. script_mode.py decides what the window shows;
this module owns the processes, and ends every one it started when asked to (close()).
"""
import threading
import time

from core.script.paused import PausedScript
from core.script.run import DEFAULT_TIMEOUT
from microgpt_viz.session import stepping


class ScriptTraining:
    """The live script of a window: start (or restart), advance, close. Callbacks run in the GUI thread."""

    def __init__(self, training):
        self.training = training  # the window's TrainingController: its worker runs the scripts' jobs
        self.script = None  # the PausedScript whose step is on screen, or None
        self.request = None  # (path, args, cwd, timeout) it was started with, for Reset
        self._started = []  # every PausedScript made and not yet closed, the ones still starting included
        self._lock = threading.Lock()

    @property
    def live(self):
        """A script process stands behind the step on screen (it may have ended since)."""
        return self.script is not None

    @property
    def can_step(self):
        return self.script is not None and self.script.running

    # ---- jobs ------------------------------------------------------------------------
    def start(self, path, args=(), cwd=None, timeout=None, at_backward=1, on_done=None, on_error=None):
        """Start the script and run it to its `at_backward`-th backward(): on_done(trace, losses) or on_error(error).

        The script shown until then keeps running until the new one has reached its step,
        so a script that fails to start leaves the old one as it was.
        """
        timeout = timeout or DEFAULT_TIMEOUT

        def job():
            script = PausedScript(path, args, cwd)
            with self._lock:
                self._started.append(script)
            try:
                trace = script.advance(at_backward, should_stop=self.training.stop_requested, timeout=timeout, build=_quietly_built(script),
                                       stop_kills=True)
            except BaseException:
                self._close(script)
                raise
            return script, trace

        def done(result):
            script, trace = result
            old, self.script = self.script, script
            self.request = (path, tuple(args), cwd, timeout)
            if old is not None:
                self._close(old)
            on_done(trace, list(script.losses))

        self.training.run_job(job, f"running {_name(path)} up to {_which(at_backward)}… (Esc cancels)", done, on_error=on_error)

    def restart(self, on_done, on_error):
        """Start the script shown again, from the beginning (Reset)."""
        path, args, cwd, timeout = self.request
        self.start(path, args, cwd, timeout, 1, on_done, on_error)

    def advance(self, count, on_done, on_error):
        """Let `count` more backward() calls run: on_done(trace, new losses) or on_error(error, new losses).

        Cancel stops the run at the backward() after the one in progress, whose step is shown.
        """
        script, training = self.script, self.training
        timeout = self.request[3]
        known = script.backward_calls
        reporter = _LossReporter(training, script.name, count)

        def job():
            try:
                return script.advance(count, should_stop=training.stop_requested, on_loss=reporter.add, timeout=timeout,
                                      build=_quietly_built(script))
            finally:
                reporter.flush()

        text = f"{script.name}: {count} backward() call{'s' if count != 1 else ''}"
        self.training.run_job(job, text, lambda trace: on_done(trace, script.losses[known:]),
                              on_error=lambda error: on_error(error, script.losses[known:]), total=count)

    # ---- ending ----------------------------------------------------------------------
    def close(self):
        """End every script process this window started (the one on screen, and any still starting)."""
        with self._lock:
            started, self._started = self._started, []
        for script in started:
            script.close()
        self.script = None
        self.request = None

    def _close(self, script):
        with self._lock:
            if script in self._started:
                self._started.remove(script)
        script.close()


class _LossReporter:
    """Hands the losses of a running script to the loss curve and the progress bar, a few times a second (worker thread)."""

    def __init__(self, training, name, count):
        self.training, self.name, self.count = training, name, count
        self.done = 0
        self.batch = []
        self.last = 0.0

    def add(self, calls, loss):
        self.done += 1
        self.batch.append(loss)
        self.calls = calls
        now = time.monotonic()
        if now - self.last >= stepping.REPORT_INTERVAL_S:
            self.last = now
            self.flush()

    def flush(self):
        if not self.batch:
            return
        batch, self.batch = self.batch, []
        self.training.stepped.emit(batch)
        self.training.progress.emit(f"{self.name}, backward() {self.calls}: loss {batch[-1]:.4f}", min(self.done, self.count), self.count)


def _quietly_built(script):
    """The Trace of a captured step, indexed and laid out for the overview off the GUI thread, as training's are."""
    return lambda capture: stepping.built_quietly(lambda: script.trace_of(capture))


def _name(path):
    return str(path).replace("\\", "/").rsplit("/", 1)[-1]


def _which(k):
    return "its first backward()" if k == 1 else f"its {ordinal(k)} backward()"


def ordinal(k):
    """1st, 2nd, 3rd, 4th, 11th, 21st…"""
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"
