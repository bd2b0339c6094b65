"""Train > Reset with another size…: preset, layers, width, heads and context for a fresh start.

The dialog checks its numbers the way the command line does (core.engine.config: the same
one-line reasons, e.g. "n_embd (30) must be divisible by n_head (4)") and refuses to close on
a combination that cannot make a model, so nothing is reset until the size is valid.
"""
from dataclasses import dataclass

from PyQt6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QSpinBox, QVBoxLayout

from core.engine.config import PRESETS, ConfigError, preset
from microgpt_viz.app.model_settings import SIZE_FIELDS

# Upper ends of the spin boxes: far past what a scalar step can record in memory (4 layers x 32
# wide is already a million Values), but no tighter than a user might want to try.
LIMITS = {"n_layer": 64, "n_embd": 1024, "n_head": 256, "block_size": 1024}
LABELS = {
    # the config's names beside the words: the checks' messages (the CLI's) use them
    "n_layer": ("layers (n_layer)", "transformer blocks (--n-layer)"),
    "n_embd": ("width (n_embd)", "width of the residual stream, a multiple of the heads (--n-embd)"),
    "n_head": ("heads (n_head)", "attention heads per layer (--n-head)"),
    "block_size": ("context (block_size)", "longest context in positions: longer names are cut (--block-size)"),
}
NOTE = ("Training starts over at step 0 with this model. A recorded step grows with layers x width x "
        "positions: 4 layers, 32 wide is about a million Values and takes a while to record.")


@dataclass(frozen=True)
class SizeRequest:
    preset_name: str
    n_layer: int
    n_embd: int
    n_head: int
    block_size: int

    def size(self):
        return {name: getattr(self, name) for name in SIZE_FIELDS}

    def config(self, **other_changes):
        """The validated Config this asks for (ConfigError with a one-line reason otherwise)."""
        return preset(self.preset_name, **self.size(), **other_changes)


def size_of(config):
    return {name: getattr(config, name) for name in SIZE_FIELDS}


def size_words(config):
    """e.g. '2 layers, 32 wide, 4 heads, 16 positions'."""
    layers = "layer" if config.n_layer == 1 else "layers"
    return f"{config.n_layer} {layers}, {config.n_embd} wide, {config.n_head} heads, {config.block_size} positions"


def size_overrides(preset_name, size):
    """The fields of `size` that differ from the preset's own: what a later Reset with another preset keeps."""
    defaults = size_of(PRESETS[preset_name])
    return {name: value for name, value in size.items() if defaults[name] != value}


class SizeDialog(QDialog):
    def __init__(self, parent=None, preset_name="original", size=None):
        super().__init__(parent)
        self.setWindowTitle("Reset training with another size")
        self.preset = QComboBox()
        self.preset.addItems(list(PRESETS))
        self.preset.setCurrentText(preset_name)
        self.preset.setToolTip("learning rate, initialisation, activation and schedule (--preset)")
        size = size or size_of(PRESETS[preset_name])
        self.spins = {}
        form = QFormLayout()
        form.addRow("preset", self.preset)
        for name in SIZE_FIELDS:
            spin = QSpinBox()
            spin.setRange(1, LIMITS[name])
            spin.setValue(size[name])
            label, tip = LABELS[name]
            spin.setToolTip(tip)
            spin.valueChanged.connect(self._check)
            self.spins[name] = spin
            form.addRow(label, spin)
        self._shown_preset = preset_name
        self.preset.currentTextChanged.connect(self._preset_changed)
        self.problem = QLabel("")
        self.problem.setStyleSheet("color: #b00020;")
        self.problem.setWordWrap(True)
        note = QLabel(NOTE)
        note.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Reset | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Reset).clicked.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.resize(440, self.sizeHint().height())
        self._check()

    def _preset_changed(self, name):
        """A field left at the old preset's own value takes the new preset's (latest's 16 positions,
        say); one the user chose stays, as Reset keeps it."""
        old, new = size_of(PRESETS[self._shown_preset]), size_of(PRESETS[name])
        for field, spin in self.spins.items():
            if spin.value() == old[field]:
                spin.setValue(new[field])
        self._shown_preset = name
        self._check()

    def _values(self):
        return SizeRequest(self.preset.currentText(), **{name: spin.value() for name, spin in self.spins.items()})

    def _check(self):
        try:
            self._values().config()
        except ConfigError as e:
            self.problem.setText(str(e))
            self.buttons.button(QDialogButtonBox.StandardButton.Reset).setEnabled(False)
            return False
        self.problem.setText("")
        self.buttons.button(QDialogButtonBox.StandardButton.Reset).setEnabled(True)
        return True

    def _accept(self):
        if self._check():
            self.accept()

    def request(self):
        """The SizeRequest, or None (with the reason shown in the dialog) when it cannot make a model."""
        return self._values() if self._check() else None
