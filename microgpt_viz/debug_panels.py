"""The debugging docks (anomalies, gradient check, what-if, backward replay, step diff) and
File > Save / Open training state, added to a MainWindow by one call: `install(window)`.

Everything goes through the window's public pieces: its Session and SessionSignals, go_to_node,
show_error, the overview and the TrainingController. A dock recomputes only while it is
visible; a hidden one catches up when it is shown.
"""
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QApplication, QDockWidget, QFileDialog

from core import checkpoint
from core.config import PRESETS
from microgpt_viz import stepping
from microgpt_viz.anomaly_panel import AnomalyPanel
from microgpt_viz.diff_panel import DiffPanel
from microgpt_viz.gradcheck_panel import GradCheckPanel
from microgpt_viz.replay_panel import ReplayPanel
from microgpt_viz.whatif_panel import WhatIfPanel

STATE_FILTER = "Training state (*.json);;All files (*)"


class DebugPanels:
    def __init__(self, window):
        self.window = window
        self.anomalies = AnomalyPanel()
        self.gradcheck = GradCheckPanel()
        self.whatif = WhatIfPanel()
        self.replay = ReplayPanel()
        self.diff = DiffPanel()
        self.panels = {
            "anomalies": ("Anomalies: click a row to see the node", self.anomalies),
            "gradcheck": ("Gradient check", self.gradcheck),
            "whatif": ("What-if: edit a value, see what moves", self.whatif),
            "replay": ("Backward replay", self.replay),
            "diff": ("Step diff", self.diff),
        }
        self.docks = {}
        self._stale = set()
        self._build_docks()
        self._connect()
        self.actions = self._build_actions()

    def _build_docks(self):
        w = self.window
        first = None
        for name, (title, panel) in self.panels.items():
            dock = QDockWidget(title, w)
            dock.setObjectName(f"dock_{name}")
            dock.setWidget(panel)
            w.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
            if first is None:
                anchor = w.docks.get("attention")
                if anchor is not None:
                    w.tabifyDockWidget(anchor, dock)
                first = dock
            else:
                w.tabifyDockWidget(first, dock)
            dock.visibilityChanged.connect(lambda visible, n=name: visible and self._catch_up(n))
            self.docks[name] = dock
            w.docks[name] = dock
        if "attention" in w.docks:
            w.docks["attention"].raise_()

    def _connect(self):
        w = self.window
        for _, panel in self.panels.values():
            if hasattr(panel, "nodeClicked"):
                panel.nodeClicked.connect(w.go_to_node, Qt.ConnectionType.QueuedConnection)
        w.signals.traceChanged.connect(self._trace_changed)
        w.signals.selectionChanged.connect(self._selection_changed)
        self.replay.frameChanged.connect(self._replay_frame)
        self.diff.recordRequested.connect(self._record_for_diff)

    def _build_actions(self):
        w = self.window
        bar = w.menuBar()
        file_menu = next((a.menu() for a in bar.actions() if a.menu() and a.text().replace("&", "") == "File"), None)
        file_menu = file_menu or bar.addMenu("&File")
        save = QAction("Save training state…", w)
        save.triggered.connect(lambda: self.save_state_dialog())
        load = QAction("Open training state…", w)
        load.triggered.connect(lambda: self.open_state_dialog())
        first = file_menu.actions()[0] if file_menu.actions() else None
        file_menu.insertAction(first, save)
        file_menu.insertAction(first, load)
        docks_menu = next((a.menu() for a in bar.actions() if a.menu() and a.text().replace("&", "") == "Docks"), None)
        if docks_menu is not None:
            for dock in self.docks.values():
                docks_menu.addAction(dock.toggleViewAction())
        return {"save_state": save, "open_state": load}

    # ---- keeping the panels on the shown step -----------------------------------------------
    def _visible(self, name):
        return self.docks[name].isVisible()  # a tab behind another one is not

    def _trace_changed(self):
        trace = self.window.session.trace
        if trace is None:
            return
        self.whatif.set_trace(trace)  # cheap, and an old edit must not outlive its step
        self.gradcheck.set_trace(trace)
        self.diff.set_trace(trace)  # a pinned step is compared with each new one
        for name in ("anomalies", "replay"):
            self._stale.add(name)
            if self._visible(name):
                self._catch_up(name)
        self._selection_changed()

    def _catch_up(self, name):
        trace = self.window.session.trace
        if name in self._stale and trace is not None:
            self._stale.discard(name)
            self.panels[name][1].set_trace(trace)

    def _selection_changed(self):
        node = self.window.session.selection.node
        self.whatif.set_node(node)
        self.gradcheck.set_selected(node)

    def _replay_frame(self, frame):
        # the minimap shows the grads as they stand at the replay position
        if frame is not None and self._visible("replay"):
            self.window.overview.set_trace(frame)

    def _record_for_diff(self, doc):
        w = self.window
        if w.training.busy:
            w.statusBar().showMessage("wait for training to finish before recording", 5000)
            return
        try:
            trace = w.training.trainer.record(w.training.trainer.tokenizer.check(doc))
        except (ArithmeticError, ValueError) as e:
            w.show_error("Cannot record the pinned doc", str(e))
            return
        self.diff.set_b(trace)

    # ---- training state files -------------------------------------------------------------
    def save_state_dialog(self):
        path, _ = QFileDialog.getSaveFileName(self.window, "Save the training state", "training-state.json", STATE_FILTER)
        return self.save_state(path) if path else False

    def open_state_dialog(self):
        path, _ = QFileDialog.getOpenFileName(self.window, "Open a training state", "", STATE_FILTER)
        return self.open_state(path) if path else False

    def save_state(self, path):
        w = self.window
        if w.training.busy:
            w.show_error("Busy", "Wait for training to finish (or Cancel it) before saving its state.")
            return False
        try:
            checkpoint.save(w.training.trainer, path)
        except checkpoint.CheckpointError as e:
            w.show_error("Cannot save the training state", str(e))
            return False
        w.statusBar().showMessage(f"saved the training state after step {w.training.trainer.step_index} to {path}", 8000)
        return True

    def open_state(self, path):
        """Go on from a saved state. A bad file shows a message and changes nothing."""
        w = self.window
        if w.training.busy:
            w.show_error("Busy", "Wait for training to finish (or Cancel it) before opening a training state.")
            return False
        try:
            trainer = checkpoint.resume(path)
        except checkpoint.CheckpointError as e:
            w.show_error("Cannot open the training state", str(e))
            return False
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            advance = stepping.advance(trainer, 0)  # record the step it takes next
        finally:
            QApplication.restoreOverrideCursor()
        w.training.trainer = trainer  # no job runs, so the GUI may swap it
        w.preset_name = _preset_name(trainer.config) or w.preset_name
        w.training.trainerReset.emit(advance)  # the path a rebuilt trainer takes
        w.session.apply_advance(stepping.Advance(losses=list(trainer.losses)))  # the loss history
        w.statusBar().showMessage(f"resumed from {path} after step {trainer.step_index}", 8000)
        return True


def _preset_name(config):
    ignore = ("seed", "num_steps", "temperature", "num_samples", "learning_rate")
    for name, base in PRESETS.items():
        if all(getattr(base, f) == getattr(config, f) for f in base.__dataclass_fields__ if f not in ignore):
            return name
    return None


def install(window):
    """Add the debugging docks and the training-state menu entries to a MainWindow."""
    window.debug_panels = DebugPanels(window)
    return window.debug_panels
