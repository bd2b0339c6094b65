"""Taking the `--screenshot` picture: run the --select actions, wait for the window to settle, save, quit."""
import os
import sys
import time

from PyQt6.QtCore import QObject, QTimer
from PyQt6.QtWidgets import QApplication

from microgpt_viz.session.select_script import SelectError, check_against

POLL_MS = 40
SETTLE_MS = 120  # after the last change, let pending paints and queued signals run
TIMEOUT_S = 600


class Screenshot(QObject):
    """Drives a started MainWindow through a list of select_script Actions, then saves a PNG."""

    def __init__(self, window, path, actions, on_finished=None):
        super().__init__(window)
        self.window, self.path, self.actions = window, str(path), list(actions)
        self.on_finished = on_finished or (lambda code: QApplication.instance().exit(code))
        self.target = "window"
        self.zoom = None
        self.started = time.monotonic()
        self._quiet_since = None
        self._checked = False  # the actions were held against the first recorded step
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self._timer.start(POLL_MS)
        for action in self.actions:
            if action.key == "size":
                window.resize(*action.value)
        self._timing = bool(os.environ.get("MICROGPT_VIZ_TIMING"))
        if self._timing:
            window.graphShown.connect(self._first_paint)

    def _first_paint(self):
        """For perf.app_start_to_first_paint_s: the first time the window is drawn with a step."""
        if not self._timing or self.window.session.trace is None:
            return
        self._timing = False
        self.window.grab()  # render the whole window now, as a screen would
        print(f"first_paint_at {time.time():.6f}", flush=True)

    def _settled(self):
        w = self.window
        return w.session.trace is not None and not w.training.busy and not w.graphviz.busy

    def _tick(self):
        if time.monotonic() - self.started > TIMEOUT_S:
            self._finish(1, f"gave up after {TIMEOUT_S} s waiting for the window to settle")
            return
        if not self._settled():
            self._quiet_since = None
            return
        now = time.monotonic()
        if self._quiet_since is None:
            self._quiet_since = now
            return
        if (now - self._quiet_since) * 1000 < SETTLE_MS:
            return
        self._quiet_since = None
        if not self._checked:
            self._checked = True
            try:
                check_against(self.actions, self.window.session.trace)
            except SelectError as e:
                self._finish(2, str(e))
                return
        if self.actions:
            self._apply(self.actions.pop(0))
            return
        self._save()

    def _apply(self, action):
        w, key, value = self.window, action.key, action.value
        try:
            if key == "token":
                w.select_position(value)
            elif key in ("expand", "toggle"):
                if key == "toggle" or value not in w.session.view.expanded:
                    w.toggle_group(value, strict=True)
            elif key == "focus":
                w.focus_scope(value, strict=True)
            elif key == "node":
                w.go_to_node(value, strict=True)
            elif key == "cell":
                w.select_attention_cell(*value)
            elif key == "level":
                w.set_level(value)
            elif key == "colour":
                w.session.set_colour_by(value)
            elif key == "attention":
                w.attention.set_mode(value)
            elif key == "search":
                w.focus_search()
                w.search.query.setText(value)
                w.search.query.returnPressed.emit()
            elif key == "steps":
                w.run(value)
            elif key == "script":
                w.script.open(value[0], value[1:])
            elif key == "samples":
                w.sample(value)
            elif key == "pin":
                if not w.script.active:
                    raise ValueError("no script's step is shown (open one with gui --script or script=)")
                w.docks["diff"].show()
                w.docks["diff"].raise_()
                w.debug_panels.diff.pin_built_in.click()
            elif key == "dock":
                w.docks[value].show()
                w.docks[value].raise_()
            elif key == "zoom":
                self.zoom = value
            elif key == "grab":
                self.target = value
        except (KeyError, ValueError, IndexError) as e:
            self._finish(2, f"--select {key}={value}: {e}")

    def _widget(self):
        w = self.window
        if self.target == "window":
            return w
        if self.target == "graph":
            return w.graph
        return w.docks[self.target]

    def _save(self):
        self._timer.stop()
        if self.zoom:
            self.window.graph.view.zoom(self.zoom)
            selected = self.window.session.selection.visible
            if selected:
                self.window.graph.view.centre_on(selected)
        QApplication.processEvents()
        image = self._widget().grab()
        if not image.save(self.path):
            self._finish(2, f"cannot write {self.path}")
            return
        errors = self.window.errors
        self._finish(0 if not errors else 1, "; ".join(text for _, text in errors) if errors else None)

    def _finish(self, code, message=None):
        self._timer.stop()
        if os.environ.get("MICROGPT_VIZ_TIMING"):  # for perf.app_size_figures: this process's own peak
            import resource

            trace = self.window.session.trace
            print(f"nodes {trace.num_nodes if trace is not None else 0}", flush=True)
            print(f"peak_rss_mb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}", flush=True)
        if message:
            print(f"microgpt-viz: {'error: ' if code else ''}{message}", file=sys.stderr)
        self.on_finished(code)
