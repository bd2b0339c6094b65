"""The debugging docks (anomalies, gradient check, what-if, backward replay, step diff) and
File > Save / Open training state, added to a MainWindow by one call: `install(window)`.

Everything goes through the window's public pieces: its Session and SessionSignals, go_to_node,
show_error, the overview and the TrainingController. The heavy work (anomaly report, backward
replay, step diff, what-if, gradient check) runs in a worker thread of its own, and a dock
that needs a new step's analysis computes it only while it is on screen: a tab behind another
one catches up when it is brought to the front.
"""
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QDockWidget, QFileDialog

from core.engine import checkpoint
from core.engine.config import PRESETS
from core.engine.train import Trainer
from core.debug.replay import regraded
from microgpt_viz.app.debug.anomaly_panel import AnomalyPanel
from microgpt_viz.app.debug.diff_panel import DiffPanel
from microgpt_viz.app.debug.gradcheck_panel import GradCheckPanel
from microgpt_viz.app.jobs import JobRunner
from microgpt_viz.session import stepping
from microgpt_viz.app.debug.replay_panel import ReplayPanel
from microgpt_viz.app.debug.whatif_panel import WhatIfPanel

STATE_FILTER = "Training state (*.json);;All files (*)"
LAZY = ("anomalies", "replay", "diff")  # docks whose analysis of a new step waits until they are shown


class DebugPanels:
    def __init__(self, window):
        self.window = window
        self.anomalies = AnomalyPanel()
        self.gradcheck = GradCheckPanel()
        self.whatif = WhatIfPanel()
        self.replay = ReplayPanel()
        self.diff = DiffPanel()
        # short tab titles: a bottom dock area is shared by six tabs; each panel explains itself inside
        self.panels = {
            "anomalies": ("Anomalies", self.anomalies),
            "gradcheck": ("Grad check", self.gradcheck),
            "whatif": ("What-if", self.whatif),
            "replay": ("Replay", self.replay),
            "diff": ("Step diff", self.diff),
        }
        self.runner = JobRunner("microgpt-viz analysis", window)
        for _, panel in self.panels.values():
            panel.background.runner = self.runner
        self.docks = {}
        self._stale = set()
        self._build_docks()
        self._connect()
        self.actions = self._build_actions()

    def _build_docks(self):
        w = self.window
        # tabbed behind the attention dock; the window's restoreState makes the group (see dock_layout.py)
        group = next((g for g in w.dock_groups if "dock_attention" in g), None)
        if group is None:
            group = []
            w.dock_groups.append(group)
        for name, (title, panel) in self.panels.items():
            dock = QDockWidget(title, w)
            dock.setObjectName(f"dock_{name}")
            dock.setWidget(panel)
            w.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
            group.append(dock.objectName())
            dock.visibilityChanged.connect(lambda visible, n=name: visible and self._catch_up(n))
            self.docks[name] = dock
            w.docks[name] = dock

    def _connect(self):
        w = self.window
        for _, panel in self.panels.values():
            if hasattr(panel, "nodeClicked"):
                panel.nodeClicked.connect(w.go_to_node, Qt.ConnectionType.QueuedConnection)
        w.signals.traceChanged.connect(self._trace_changed)
        w.signals.selectionChanged.connect(self._selection_changed)
        self.replay.frameChanged.connect(self._replay_frame)
        w.graphShown.connect(self._graph_shown)
        self.diff.recordRequested.connect(self._record_for_diff)
        self.diff.builtInRequested.connect(self._pin_built_in_for_diff)

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

    def shutdown(self):
        self.runner.shutdown()

    # ---- keeping the panels on the shown step -----------------------------------------------
    def _visible(self, name):
        """On screen. Qt 6 says isVisible() of a dock tab hidden behind another tab, so ask what is painted."""
        dock = self.docks[name]
        return dock.isVisible() and not dock.visibleRegion().isEmpty()

    def _trace_changed(self):
        trace = self.window.session.trace
        if trace is None:
            return
        self.whatif.set_trace(trace)  # cheap, and an old edit must not outlive its step
        self.gradcheck.set_trace(trace)
        for name in LAZY:
            self._stale.add(name)
            if self._wanted(name):
                self._catch_up(name)
        self._selection_changed()

    def _wanted(self, name):
        """A new step's analysis is needed now: the dock is on screen, or the graph is coloured by its diff."""
        colouring = name == "diff" and self.diff.pinned is not None and self.diff.colour.isChecked()
        return colouring or self._visible(name)

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
        """The graph and the minimap show the grads as they stand at the replay position."""
        if frame is None or not self._visible("replay"):
            return
        w = self.window
        w.overview.set_trace(frame)
        rendered = w.session.rendered()
        if rendered is not None and set(w.graph.view.nodes) == {n.id for n in rendered.nodes}:
            w.graph.recolour(regraded(rendered, frame), w.session.colour_by, w.session.change)

    def _graph_shown(self):
        # a new layout is drawn with the recorded grads: keep showing the replay position instead
        if self.replay.trace is self.window.session.trace and self.replay.position < self.replay.replay.size:
            self._replay_frame(self.replay.frame())

    def _record_for_diff(self, doc):
        """Record A's doc at the current parameters, in the training worker (the Trainer lives there)."""
        w = self.window
        if w.training.busy:
            w.statusBar().showMessage("wait for training to finish before recording", 5000)
            return
        w.training.record_doc(doc, self._recorded_for_diff, lambda text: w.show_error("Cannot record the pinned doc", text))

    def _recorded_for_diff(self, trace):
        if self.diff.pinned is not None and trace.doc == self.diff.pinned.doc:
            self.diff.set_b(trace)

    def _pin_built_in_for_diff(self, doc, step):
        """The built-in model's step on a script step's doc after `step` updates, pinned as A: a fresh
        Trainer of the window's data and settings, taken there in the training worker (exact, scalar updates)."""
        w = self.window
        if w.training.busy:
            w.statusBar().showMessage("wait for the script to reach its step before recording", 5000)
            return
        docs, config = w.training.trainer.source_docs, w.training.trainer.config

        def job():
            twin = Trainer(docs, config)
            if step >= twin.planned_steps:
                raise ValueError(f"the built-in run plans {twin.planned_steps} steps, so it has no step {step}")
            checked = twin.tokenizer.check(doc)
            while twin.step_index < step:
                twin.step()
            return stepping.built_quietly(lambda: twin.record(checked))

        def failed(error):
            w.show_error("Cannot record microgpt's step", str(error) or type(error).__name__)

        w.training.run_job(job, f"recording microgpt's step {step} on {doc!r}", self.diff.pin_trace, on_error=failed)

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
        w.statusBar().showMessage(f"saved the training state after {w.training.trainer.step_index} updates (next: step {w.training.trainer.step_index}) to {path}", 8000)
        return True

    def open_state(self, path):
        """Go on from a saved state. A bad file shows a message and changes nothing.

        The file is read here (a clear error at once); its next step is recorded in the
        training worker, and the window switches over when that is done.
        """
        w = self.window
        if w.training.busy:
            w.show_error("Busy", "Wait for training to finish (or Cancel it) before opening a training state.")
            return False
        try:
            trainer = checkpoint.resume(path)
        except checkpoint.CheckpointError as e:
            w.show_error("Cannot open the training state", str(e))
            return False

        def switched(_advance):
            w.preset_name = _preset_name(trainer.config) or w.preset_name
            w.training_panel.set_config(w.preset_name, trainer.config.learning_rate)
            w.statusBar().showMessage(f"resumed from {path} after {trainer.step_index} updates (next: step {trainer.step_index})", 8000)

        w.training.replace_trainer(trainer, on_done=switched, what="Cannot open the training state")
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
