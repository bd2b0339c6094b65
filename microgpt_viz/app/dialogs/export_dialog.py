"""The export dialog (Ctrl+E): what to export, in which format, theme and direction, and where."""
from dataclasses import dataclass
from pathlib import Path

from PyQt6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLineEdit, QPushButton, QWidget,
)

from core.views.export import FORMATS
from core.views.export_style import THEME_NAMES
from microgpt_viz.session.exporting import SUFFIXES

TARGETS = ("graph view", "attention grid")
ATTENTION_FORMATS = ("png", "svg")


@dataclass(frozen=True)
class ExportRequest:
    target: str  # "graph view" or "attention grid"
    path: str  # where to write
    fmt: str  # dot / svg / pdf / png (attention: png / svg)
    theme: str  # light / dark / slides (graph view only)
    rankdir: str  # TB or LR (graph view only)


class ExportDialog(QDialog):
    def __init__(self, parent=None, folder="", rankdir="TB"):
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.target = QComboBox()
        self.target.addItems(TARGETS)
        self.format = QComboBox()
        self.theme = QComboBox()
        self.theme.addItems(THEME_NAMES)
        self.rankdir = QComboBox()
        self.rankdir.addItems(["TB", "LR"])
        self.rankdir.setCurrentText(rankdir)
        self.rankdir.setToolTip("TB: top to bottom, as on screen; LR: left to right")
        self.path = QLineEdit(str(Path(folder or ".") / "microgpt-view.svg"))
        browse = QPushButton("Browse…")
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        path_row = QWidget()
        path_row.setLayout(row)
        form = QFormLayout(self)
        form.addRow("export", self.target)
        form.addRow("format", self.format)
        form.addRow("theme", self.theme)
        form.addRow("direction", self.rankdir)
        form.addRow("file", path_row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        form.addRow(buttons)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        browse.clicked.connect(self._browse)
        self.target.currentTextChanged.connect(self._target_changed)
        self.format.currentTextChanged.connect(self._format_changed)
        self._target_changed(self.target.currentText())
        self.format.setCurrentText("svg")
        self.resize(520, self.sizeHint().height())

    def request(self):
        return ExportRequest(self.target.currentText(), self.path.text().strip(), self.format.currentText(),
                             self.theme.currentText(), self.rankdir.currentText())

    def _target_changed(self, target):
        graph = target == "graph view"
        current = self.format.currentText()
        self.format.clear()
        self.format.addItems(FORMATS if graph else ATTENTION_FORMATS)
        if current in (FORMATS if graph else ATTENTION_FORMATS):
            self.format.setCurrentText(current)
        self.theme.setEnabled(graph)
        self.rankdir.setEnabled(graph)

    def _format_changed(self, fmt):
        if not fmt:
            return
        path = Path(self.path.text().strip() or "microgpt-view")
        self.path.setText(str(path.with_suffix(SUFFIXES[fmt])))

    def _browse(self):
        fmt = self.format.currentText()
        chosen, _ = QFileDialog.getSaveFileName(self, "Export to", self.path.text(), f"{fmt.upper()} (*{SUFFIXES[fmt]})")
        if chosen:
            self.path.setText(chosen)
