"""The training dock: Step, Run N, Cancel, Reset, preset and learning rate, loss curve, samples.

The panel only asks (signals) and shows (setters); the main window connects it to the
TrainingController, so the panel runs on its own in tests.
"""
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QListWidget, QProgressBar,
    QPushButton, QSpinBox, QVBoxLayout, QWidget,
)

from core.engine.config import PRESETS
from microgpt_viz.app.widgets.loss_plot import LossPlot
from microgpt_viz.session.stepping import step_words


class TrainingPanel(QWidget):
    stepRequested = pyqtSignal()
    runRequested = pyqtSignal(int)  # number of updates
    cancelRequested = pyqtSignal()
    resetRequested = pyqtSignal(str)  # preset name
    sizeRequested = pyqtSignal()  # reset with another model size (a dialog asks which)
    learningRateChanged = pyqtSignal(float)
    sampleRequested = pyqtSignal(int)  # how many names
    fastChanged = pyqtSignal(bool)  # Run N on the NumPy fast-forward engine (True) or the scalar one

    def __init__(self, parent=None):
        super().__init__(parent)
        self._position_text = ""
        self._locked = None  # why the training controls are off (a script's step is shown), or None
        self._unlocked = {}  # the controls that stay on while locked -> their tooltip meanwhile
        self._busy = False
        self.step_button = QPushButton("Step")
        self.step_button.setToolTip("One Adam update, then record the next step (Space)")
        self.run_button = QPushButton("Run N:")
        self.run_button.setToolTip("Run this many updates in the background (Ctrl+R)")
        self.run_count = QSpinBox()
        self.run_count.setRange(1, 100000)
        self.run_count.setValue(20)
        self.run_count.setToolTip("how many updates Run takes")
        self.fast = QCheckBox("fast-forward")
        self.fast.setChecked(True)
        self.fast.setToolTip("Run N takes its updates on the NumPy engine (same numbers to ~1e-12, hundreds of times faster);\n"
                             "the step after them is recorded on the scalar engine. Off: every update on the scalar engine.")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current update (Esc)")
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Back to step 0 with the chosen preset")
        self.size_button = QPushButton("Size…")
        self.size_button.setToolTip("Reset with another preset and model size (layers, width, heads, context)")
        self.preset = QComboBox()
        self.preset.addItems(list(PRESETS))
        self.learning_rate = QDoubleSpinBox()
        self.learning_rate.setDecimals(4)
        self.learning_rate.setRange(0.0001, 1.0)
        self.learning_rate.setSingleStep(0.001)
        self.learning_rate.setToolTip("Adam step size before the schedule; applies from the next update")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        # two lines whatever it says: the one-line "training 1 step" and the two-line position after
        # it changed the panel's layout twice a Step, and each time the loss plot was resized and redrawn
        self.status.setMinimumHeight(2 * self.status.fontMetrics().lineSpacing())
        self.loss_plot = LossPlot()
        self.samples = QListWidget()
        self.samples.setToolTip("Names the model generates at the current parameters")
        self.sample_button = QPushButton("Sample 10 names")

        buttons = QHBoxLayout()
        for widget in (self.step_button, self.run_button, self.run_count, self.cancel_button):
            buttons.addWidget(widget)
        settings = QFormLayout()
        preset_row = QHBoxLayout()
        preset_row.addWidget(self.preset, 1)
        preset_row.addWidget(self.reset_button)
        preset_row.addWidget(self.size_button)
        settings.addRow("preset", preset_row)
        settings.addRow("learning rate", self.learning_rate)
        settings.addRow("Run N", self.fast)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(settings)
        layout.addWidget(self.loss_plot, 3)
        samples_row = QHBoxLayout()
        samples_row.addWidget(QLabel("samples"))
        samples_row.addStretch(1)
        samples_row.addWidget(self.sample_button)
        layout.addLayout(samples_row)
        layout.addWidget(self.samples, 1)

        self.step_button.clicked.connect(self.stepRequested)
        self.run_button.clicked.connect(lambda: self.runRequested.emit(self.run_count.value()))
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.reset_button.clicked.connect(lambda: self.resetRequested.emit(self.preset.currentText()))
        self.size_button.clicked.connect(self.sizeRequested)
        self.learning_rate.editingFinished.connect(lambda: self.learningRateChanged.emit(self.learning_rate.value()))
        self.sample_button.clicked.connect(lambda: self.sampleRequested.emit(10))
        self.fast.toggled.connect(self.fastChanged)
        self._tooltips = {w: w.toolTip() for w in self._training_controls()}
        self.set_busy(False)

    def _training_controls(self):
        return (self.step_button, self.run_button, self.run_count, self.reset_button, self.size_button,
                self.sample_button, self.preset, self.learning_rate, self.fast)

    def set_locked(self, reason, unlocked=None):
        """Turn the training controls off, each saying `reason` in its tooltip; None turns them back on.

        unlocked: {control: tooltip} of those that stay on meanwhile, saying what they do then
        (Step and Run N step a user's script)."""
        self._locked = reason
        self._unlocked = dict(unlocked or {}) if reason else {}
        for widget, tip in self._tooltips.items():
            widget.setToolTip(self._unlocked.get(widget, reason) if reason else tip)
        self.set_busy(self._busy)

    def set_busy(self, busy):
        self._busy = busy
        waits_for_idle = (self.step_button, self.run_button, self.reset_button, self.size_button, self.sample_button, self.preset)
        for widget in self._training_controls():
            locked = self._locked and widget not in self._unlocked
            widget.setEnabled(not locked and not (busy and widget in waits_for_idle))
        self.cancel_button.setEnabled(busy)
        if not busy:
            self._set_bar(0, 1, 0, "idle")
            self.status.setText(self._position_text)

    def set_progress(self, text, done, total):
        if total:
            self._set_bar(0, total, done, f"{done} / {total}")
        elif text:
            self._set_bar(0, 0, None, text)  # busy indicator: how long is unknown
        if text:
            self.status.setText(text)

    def _set_bar(self, low, high, value, text):
        """The progress bar's range, value and text, drawn with the window's next paint.

        QProgressBar repaints at once when its value moves, and an immediate repaint paints every
        widget waiting for one: after a Step the loss plot, the overview and the heatmaps were
        drawn in the turn that took the step in (60-130 ms in one go)."""
        self.progress.setUpdatesEnabled(False)  # repaint() does nothing then; enabling again asks for a paint
        try:
            self.progress.setRange(low, high)
            if value is not None:
                self.progress.setValue(value)
            self.progress.setFormat(text)
        finally:
            self.progress.setUpdatesEnabled(True)

    def set_position(self, step_index, planned, doc, loss):
        """Where training stands: the step on screen (numbered from 0, as the CLI does) and its loss."""
        self._position_text = f"{step_words(step_index, planned)}\n{doc!r}: loss {loss:.4f}"
        self.status.setText(self._position_text)

    def set_status(self, text):
        """What the panel says while idle (e.g. that a script's step is shown)."""
        self._position_text = text
        self.status.setText(text)

    def set_config(self, preset_name, learning_rate, size_text=""):
        self.preset.setCurrentText(preset_name)
        if size_text and not self._locked:
            self._tooltips[self.reset_button] = f"Back to step 0 with the chosen preset, keeping the size ({size_text})"
            self.reset_button.setToolTip(self._tooltips[self.reset_button])
        self.learning_rate.blockSignals(True)
        self.learning_rate.setValue(learning_rate)
        self.learning_rate.blockSignals(False)

    def set_samples(self, names):
        self.samples.clear()
        self.samples.addItems([name or "(empty)" for name in names])
