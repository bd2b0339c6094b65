"""Backward replay: a slider (and Play) over the backward order; grads appear node by node.

Emits the grads at the chosen position (core/debug/replay.py) and a frame Trace whose grad columns
show them, so views, the overview and exports can colour by it. Preparing the replay of a
step reads its whole wiring (most of a second): in the app that runs in a worker thread.
"""
from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import QPushButton, QSlider, QSpinBox

from core.debug.replay import replay_of, trace_at
from microgpt_viz.app.debug.debug_panel import DebugPanel, failure_text
from microgpt_viz.session.labels import node_text

TICK_MS = 40
EXPLANATION = ("Backward visits the nodes from the loss to the inputs; slide or play to watch the grads "
               "appear node by node in the graph and the overview.")


class ReplayPanel(DebugPanel):
    positionChanged = pyqtSignal(int)  # nodes visited by backward so far
    frameChanged = pyqtSignal(object)  # a Trace copy whose grads are those at the position

    def __init__(self, parent=None):
        super().__init__(EXPLANATION, parent)
        self.replay = None
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        self.play = QPushButton("Play")
        self.play.setCheckable(True)
        self.play.setEnabled(False)
        self.stride = QSpinBox()
        self.stride.setRange(1, 100000)
        self.stride.setValue(250)
        self.stride.setSuffix(" nodes / frame")
        self.add_row(self.play, self.slider, self.stride, grow=self.slider)
        self.status = self.add_status("no step yet")
        self.end_without_table()
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.play.toggled.connect(self._play_toggled)
        self.slider.valueChanged.connect(self._moved)

    def set_trace(self, trace):
        """A new step: prepare its replay; the slider waits until it is ready."""
        self.play.setChecked(False)
        self.slider.setEnabled(False)
        self.play.setEnabled(False)
        self.status.setText(f"preparing the replay of step {trace.step}…")
        self.background.run(lambda: replay_of(trace), lambda replay: self._ready(trace, replay), self._failed)

    def _failed(self, error):
        self.status.setText(failure_text("preparing the replay", error))

    def _ready(self, trace, replay):
        self.trace = trace
        self.replay = replay
        self.slider.blockSignals(True)
        self.slider.setRange(0, self.replay.size)
        self.slider.setValue(self.replay.size)  # a new step shows its finished backward
        self.slider.blockSignals(False)
        self.slider.setEnabled(True)
        self.play.setEnabled(True)
        self._describe(self.replay.size)

    @property
    def position(self):
        return self.slider.value()

    def set_position(self, k):
        self.slider.setValue(int(k))

    def grads(self):
        return None if self.replay is None else self.replay.grads_at(self.position)

    def frame(self):
        return None if self.trace is None else trace_at(self.trace, self.position)

    def _moved(self, k):
        self._describe(k)
        self.positionChanged.emit(k)
        self.frameChanged.emit(trace_at(self.trace, k))

    def _describe(self, k):
        n = self.replay.size
        if k == 0:
            text = "backward has not started: only the loss holds its seed grad 1"
        elif k == n:
            text = f"backward done: all {n} nodes visited, the recorded grads"
        else:
            node = self.replay.node_at(k - 1)
            final = int(self.replay.complete(k).sum())
            text = f"{k} of {n} visited; last: {node_text(self.trace, node)}; {final} grads final"
        self.status.setText(text)

    def _play_toggled(self, playing):
        self.play.setText("Pause" if playing else "Play")
        if playing:
            if self.position >= self.replay.size:
                self.set_position(0)
            self.timer.start()
        else:
            self.timer.stop()

    def _tick(self):
        k = min(self.position + self.stride.value(), self.replay.size)
        self.set_position(k)
        if k >= self.replay.size:
            self.play.setChecked(False)
