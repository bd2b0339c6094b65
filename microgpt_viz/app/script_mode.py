"""File > Open script…: a user's own microgpt script's first step, shown in place of the model's.

The script runs in the training worker (core/script/run.py runs it in a process of its own, so
Cancel can stop it); its Trace then replaces the model's on screen with a fresh view, while
the model's step is kept aside for File > Back to training. Training controls act on the
built-in model only, so they are off (their tooltips say why) while a script's step is shown.
A script that raises, never calls backward() or runs past the time limit is reported with
the script's own traceback; what was on screen stays.
"""
import os
import shlex

from PyQt6.QtGui import QAction, QKeySequence

from core.script.run import ScriptError
from microgpt_viz.session import trace_memory
from microgpt_viz.app.dialogs.script_dialog import ScriptDialog

LOCKED = "A script's step is shown: training acts on the built-in model. File > Back to training first."
OUTPUT_TAIL_LINES = 10  # of a script that exited on its own: its last words usually say why


class ScriptMode:
    def __init__(self, window):
        self.window = window
        self.path = None  # the script whose step is shown, or None (the model's step is shown)
        self.which = "first backward()"  # which of its steps: how the title and status name it
        self._training_trace = None  # the model's step, kept for Back to training
        self.actions = self._build_actions()

    @property
    def active(self):
        return self.path is not None

    def title(self):
        return f"{os.path.basename(self.path)}, {self.which}" if self.path else ""

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
    def open(self, path, args=(), cwd=None, timeout=None):
        """Record the script's first step in the background; False if training is busy."""
        w = self.window
        if w.training.busy:
            w.show_error("Busy", "Wait for training to finish (or Cancel it) before opening a script.")
            return False
        w.statusBar().showMessage(f"running {os.path.basename(str(path))} up to its first backward()… (Esc cancels)")
        w.training.record_script(path, tuple(args), cwd=cwd, timeout=timeout,
                                 on_done=lambda trace: self._recorded(str(path), trace), on_error=self._failed)
        return True

    def show_trace(self, path, trace, which):
        """Show a step that was recorded elsewhere (microgpt_viz.show) as a script's step; `which` names it."""
        self._recorded(str(path), trace, which)

    def _recorded(self, path, trace, which="first backward()"):
        w = self.window
        self.which = which
        if not self.active:
            self._training_trace = w.session.trace  # kept whole for Back to training
        self.path = path
        self._set_locked(True)
        w.show_unrelated_trace(trace, release_old=self._training_trace is not w.session.trace)

    def _failed(self, error):
        w = self.window
        if isinstance(error, ScriptError) and error.kind == "cancelled":
            w.statusBar().showMessage(f"{error}; the step on screen is unchanged", 8000)
            return
        if isinstance(error, ScriptError):
            w.show_error("The script could not be recorded", _script_message(error))
        else:
            w.show_error("The script could not be recorded", f"{type(error).__name__}: {error} (a problem in microgpt-viz)")

    def leave(self):
        """Back to the model's training step (the script's step is let go)."""
        if not self.active:
            return
        w = self.window
        trace = self._training_trace
        self._training_trace = None
        self.path = None
        self._set_locked(False)
        if trace is not None:
            w.show_unrelated_trace(trace)
        elif not w.training.busy:  # opened on a shown Value: the model's step was never recorded
            w.start()

    def forget(self):
        """The trainer was replaced while a script's step was shown: the kept model step is stale."""
        old, self._training_trace = self._training_trace, None
        self.path = None
        self._set_locked(False)
        if old is not None and old is not self.window.session.trace:
            trace_memory.release(old)

    def _set_locked(self, locked):
        w = self.window
        w.training_panel.set_locked(LOCKED if locked else None)
        if locked:
            w.training_panel.set_status(f"showing {self.title()}; the model stays at its step")
        self.actions["back_to_training"].setEnabled(locked)
        for name in ("step", "run", "reset", "sample"):
            w.actions[name].setEnabled(not locked and not w.training.busy)
            w.actions[name].setToolTip(LOCKED if locked else "")
        w.setWindowTitle(f"microgpt-viz: {os.path.basename(self.path)}" if locked else "microgpt-viz")


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
