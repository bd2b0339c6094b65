"""File > Open script…: a user's own microgpt script's steps, shown in place of the model's.

The script runs in a process of its own, paused at the backward() call whose step is shown
(microgpt_viz/app/script_training.py); its Trace replaces the model's on screen with a fresh
view, while the model's step and loss curve are kept aside for File > Back to training. Step,
Run N and Reset then act on the script: Step lets it run to its next backward() (the view keeps
its open groups, camera and selection, as for the model), Run N goes N calls on with the
script's losses drawn as they come, Reset starts it again. The model's other controls
(preset, learning rate, samples) are off and say why. A script that raises is reported with
its own traceback and one that ends says so; the last good step stays on screen.
A step handed over without a process (microgpt_viz.show) cannot be stepped.
"""
import os
import shlex

from PyQt6.QtGui import QAction, QKeySequence

from core.script.run import ScriptError
from microgpt_viz.session import trace_memory
from microgpt_viz.session.stepping import Advance
from microgpt_viz.app.dialogs.script_dialog import ScriptDialog
from microgpt_viz.app.docks.token_strip import vocab_size
from microgpt_viz.app.script_training import ScriptTraining, ordinal

LOCKED = "A script's step is shown: training acts on the built-in model. File > Back to training first."
LOCKED_LIVE = "A script's step is shown: this setting is the built-in model's. File > Back to training first."
SCRIPT_TIPS = {
    "step": "Let the script run to its next backward() and show that step (Space)",
    "run": "Let the script make this many backward() calls and show the last one's step (Ctrl+R)",
    "reset": "Start the script again, from its beginning",
}
OUTPUT_TAIL_LINES = 10  # of a script that exited on its own: its last words usually say why


class ScriptMode:
    def __init__(self, window):
        self.window = window
        self.path = None  # the script whose step is shown, or None (the model's step is shown)
        self.which = "first backward()"  # which of its steps: how the title and status name it
        self.ended = ""  # why the live script takes no more steps ("" while it can)
        # a step recorded before the window opened (`gui --script`): (path, args, cwd, timeout, its
        # backward() call), so that Step can run the script again, on to the next one
        self._rerun = None
        self._training_trace = None  # the model's step, kept for Back to training
        self._training_losses = self._training_samples = None  # and its loss curve and samples
        self.live = ScriptTraining(window.training)
        self.actions = self._build_actions()

    @property
    def active(self):
        return self.path is not None

    def title(self):
        return f"{os.path.basename(self.path)}, {self.which}" if self.path else ""

    def allows(self, name):
        """Whether the training action `name` (step, run, reset, sample) acts now (busy or not)."""
        if not self.active:
            return True
        if self._rerun is not None and not self.live.live:
            return name != "sample"
        if name in ("step", "run"):
            return self.live.can_step
        return name == "reset" and self.live.live

    # ---- menu ---------------------------------------------------------------------------
    def _build_actions(self):
        w = self.window
        file_menu = next(a.menu() for a in w.menuBar().actions() if a.menu() and a.text().replace("&", "") == "File")
        open_script = QAction("Open &script…", w)
        open_script.setShortcut(QKeySequence("Ctrl+Shift+O"))
        open_script.setToolTip("Run your own microgpt script up to its first backward() and show that step")
        open_script.triggered.connect(lambda: self.open_dialog())
        back = QAction("&Back to training", w)
        back.setToolTip("Show the model's training step again")
        back.setEnabled(False)
        back.triggered.connect(lambda: self.leave())
        entries = file_menu.actions()
        after_data = next((k + 1 for k, a in enumerate(entries) if a is w.actions.get("open_data")), 0)
        before = entries[after_data] if after_data < len(entries) else None
        file_menu.insertAction(before, open_script)
        file_menu.insertAction(before, back)
        for action in (open_script, back):
            w.addAction(action)
        w.actions["open_script"] = open_script
        w.actions["back_to_training"] = back
        return {"open_script": open_script, "back_to_training": back}

    def open_dialog(self):
        s = self.window.settings
        dialog = ScriptDialog(self.window, path=s.value("script/path", ""), args=s.value("script/args", ""), cwd=s.value("script/cwd", ""))
        if dialog.exec() != ScriptDialog.DialogCode.Accepted:
            return False
        request = dialog.request()
        s.setValue("script/path", request.path)
        s.setValue("script/args", shlex.join(request.args))
        s.setValue("script/cwd", request.cwd)
        return self.open(request.path, request.args, request.cwd or None, request.timeout)

    # ---- opening and leaving ------------------------------------------------------------
    def open(self, path, args=(), cwd=None, timeout=None, at_backward=1):
        """Start the script and show the step of its `at_backward`-th backward() once it is there; False if training is busy."""
        w = self.window
        if w.training.busy:
            w.show_error("Busy", "Wait for training to finish (or Cancel it) before opening a script.")
            return False
        which = _which(at_backward)
        w.statusBar().showMessage(f"running {os.path.basename(str(path))} up to its {which}… (Esc cancels)")
        self.live.start(path, tuple(args), cwd=cwd, timeout=timeout, at_backward=at_backward,
                        on_done=lambda trace, losses: self._opened(str(path), trace, which, losses), on_error=self._failed)
        return True

    def show_trace(self, path, trace, which, rerun=None):
        """Show a step that was recorded elsewhere (microgpt_viz.show, `gui --script`) as a script's step; `which` names it.

        rerun: (args, cwd, timeout, k) when the step is the script's k-th backward(): Step and Run N then
        run the script again, on to a later one (the steps before it unrecorded), and Reset from its start."""
        self.live.close()
        self._rerun = (str(path), tuple(rerun[0]), *rerun[1:]) if rerun is not None else None
        self._recorded(str(path), trace, which)

    def _opened(self, path, trace, which, losses):
        self.ended = ""
        self._rerun = None
        self._recorded(path, trace, which, losses)

    def _recorded(self, path, trace, which="first backward()", losses=None):
        w = self.window
        self.which = which
        if not self.active:
            self._training_trace = w.session.trace  # kept whole for Back to training
            self._training_losses, self._training_samples = list(w.session.losses), list(w.session.samples)
        self.path = path
        if losses is not None:  # the loss curve is the script's own
            w.session.reset_training(None, losses=losses)
            self._baseline(trace)
        w.show_unrelated_trace(trace, release_old=self._training_trace is not w.session.trace)
        self._set_locked(True)

    def _failed(self, error):
        w = self.window
        if isinstance(error, ScriptError) and error.kind in ("cancelled", "closed"):
            w.statusBar().showMessage(f"{error}; the step on screen is unchanged", 8000)
            return
        if isinstance(error, ScriptError):
            w.show_error("The script could not be recorded", _script_message(error))
        else:
            w.show_error("The script could not be recorded", f"{type(error).__name__}: {error} (a problem in microgpt-viz)")

    # ---- stepping the script -------------------------------------------------------------
    def step(self):
        self.run(1)

    def run(self, count):
        """Let the live script make `count` more backward() calls and show the last one's step."""
        if not self.active or self.window.training.busy:
            return
        if self._rerun is not None and not self.live.live:
            path, args, cwd, timeout, k = self._rerun
            self.live.start(path, args, cwd, timeout, k + count, self._restarted, self._failed)
        elif self.live.can_step:
            self.live.advance(count, self._stepped, self._stopped)

    def reset(self):
        """Start the live script again from its beginning; the step on screen stays until its first step is there."""
        if not self.active or self.window.training.busy:
            return
        if self._rerun is not None and not self.live.live:
            path, args, cwd, timeout, _ = self._rerun
            self.live.start(path, args, cwd, timeout, 1, self._restarted, self._failed)
        elif self.live.live:
            self.live.restart(self._restarted, self._failed)

    def _stepped(self, trace, losses):
        self.which = _which(trace.step + 1)
        self.window.session.apply_advance(Advance(losses=list(losses), trace=trace, step_index=trace.step + 1))
        self._set_locked(True)

    def _restarted(self, trace, losses):
        self.ended = ""
        self._rerun = None
        self.which = _which(trace.step + 1)
        self.window.session.reset_training(trace, losses=losses)
        self._baseline(trace)
        self._set_locked(True)

    def _baseline(self, trace):
        """The loss curve's uniform-guess line at ln(the script's vocabulary), when its tokens say it."""
        size = vocab_size(trace)
        if size:
            self.window.training_panel.loss_plot.set_vocab_size(size)

    def _stopped(self, error, losses):
        """The script did not reach the step asked for: it ended (or was closed). The last good step stays."""
        w = self.window
        if losses:
            w.session.apply_advance(Advance(losses=list(losses)))
        if isinstance(error, ScriptError) and error.kind == "closed":
            return
        name = os.path.basename(self.path)
        if isinstance(error, ScriptError) and error.kind == "finished":
            self.ended = f"{name} has finished (after {self.live.script.backward_calls} backward() calls): Reset runs it again"
        else:
            self.ended = f"{name} has stopped: Reset runs it again"
            if isinstance(error, ScriptError):
                w.show_error("The script stopped", _script_message(error))
            else:
                w.show_error("The script stopped", f"{type(error).__name__}: {error} (a problem in microgpt-viz)")
        self._set_locked(True)
        w.statusBar().showMessage(f"{self.ended}; the graph still shows its {self.which}", 15000)

    # ---- back to the model -------------------------------------------------------------------
    def leave(self):
        """Back to the model's training step (the script's step is let go, its process ended)."""
        if not self.active:
            return
        w = self.window
        self.live.close()
        self._rerun = None
        trace = self._training_trace
        self._training_trace = None
        self.path = None
        self._set_locked(False)
        self._restore_training_curve()
        if trace is not None:
            w.show_unrelated_trace(trace)
        elif not w.training.busy:  # opened on a shown Value: the model's step was never recorded
            w.start()

    def forget(self):
        """The trainer was replaced while a script's step was shown: the kept model step is stale."""
        self.live.close()
        self._rerun = None
        old, self._training_trace = self._training_trace, None
        self._training_losses = self._training_samples = None
        self.path = None
        self._set_locked(False)
        if old is not None and old is not self.window.session.trace:
            trace_memory.release(old)

    def shutdown(self):
        """The window closes: end the script's process."""
        self.live.close()

    def _restore_training_curve(self):
        if self._training_losses is not None:
            session = self.window.session
            session.reset_training(None, losses=self._training_losses)
            session.set_samples(self._training_samples)
        self._training_losses = self._training_samples = None

    def _set_locked(self, locked):
        w = self.window
        panel = w.training_panel
        if locked and (self.live.live or self._rerun is not None):
            unlocked = {panel.reset_button: SCRIPT_TIPS["reset"]}
            if self.live.can_step or not self.live.live:
                unlocked.update({panel.step_button: SCRIPT_TIPS["step"], panel.run_button: SCRIPT_TIPS["run"],
                                 panel.run_count: "how many backward() calls Run lets the script make"})
            panel.set_locked(self.ended or LOCKED_LIVE, unlocked)
        else:
            panel.set_locked(LOCKED if locked else None)
        if locked:
            panel.set_status(self._status())
        self.actions["back_to_training"].setEnabled(locked)
        for name in ("step", "run", "reset", "sample"):
            w.actions[name].setEnabled(self.allows(name) and not w.training.busy)
            w.actions[name].setToolTip("" if not locked else SCRIPT_TIPS[name] if self.allows(name) else self.ended or LOCKED)
        w.setWindowTitle(f"microgpt-viz: {os.path.basename(self.path)}" if locked else "microgpt-viz")

    def _status(self):
        if not self.live.live and self._rerun is None:
            return f"showing {self.title()}; the model stays at its step"
        trace = self.window.session.trace
        text = f"{os.path.basename(self.path)} at its {self.which}"
        if trace is not None and trace.config is None:
            text += f" (step {trace.step})\n" + (f"{trace.doc!r}: " if trace.doc else "") + f"loss {trace.loss:.4f}"
        return f"{text}\n{self.ended}" if self.ended else f"{text}\nStep lets it run to its next backward()"


def _which(k):
    """How the title names the step of the k-th backward() call: 'first backward()', '3rd backward()'."""
    return "first backward()" if k == 1 else f"{ordinal(k)} backward()"


def _script_message(error):
    """The one-line error, then the script's own traceback (or its last output when it just exited)."""
    if error.script_traceback:
        return f"{error}\n\nThe script's own traceback:\n{error.script_traceback.rstrip()}"
    tail = error.output.rstrip().splitlines()[-OUTPUT_TAIL_LINES:]
    if tail and error.kind in ("exited", "finished", "timeout", "killed"):
        return f"{error}\n\nThe script's last output:\n" + "\n".join(tail)
    return str(error)


def install(window):
    window.script = ScriptMode(window)
    return window.script
