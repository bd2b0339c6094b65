"""File > Open script…: which script, with which arguments, in which folder, for how long."""
import shlex
from dataclasses import dataclass
from pathlib import Path

from PyQt6.QtWidgets import (
    QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
    QPushButton, QVBoxLayout,
)

from core.script.run import DEFAULT_TIMEOUT

NOTE = ("The script is your own code and runs as such: python SCRIPT ARGS in a process of its own, "
        "until its first backward(); that step's graph is shown in place of the model's.")


@dataclass(frozen=True)
class ScriptRequest:
    path: str  # the script
    args: tuple  # its own command-line arguments
    cwd: str  # its working directory ('' = the script's folder)
    timeout: float  # seconds it may take to reach backward()


class ScriptDialog(QDialog):
    def __init__(self, parent=None, path="", args="", cwd="", timeout=DEFAULT_TIMEOUT):
        super().__init__(parent)
        self.setWindowTitle("Open your own microgpt script")
        self.path = QLineEdit(path)
        self.path.setPlaceholderText("/path/to/microgpt.py")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.args = QLineEdit(args)
        self.args.setPlaceholderText("the script's own arguments, e.g. input.txt")
        self.cwd = QLineEdit(cwd)
        self.cwd.setPlaceholderText("the script's folder")
        self.timeout = QDoubleSpinBox()
        self.timeout.setRange(1, 3600)
        self.timeout.setSuffix(" s")
        self.timeout.setValue(timeout)
        self.problem = QLabel("")
        self.problem.setStyleSheet("color: #b00020;")
        note = QLabel(NOTE)
        note.setWordWrap(True)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path, 1)
        path_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("script", path_row)
        form.addRow("arguments", self.args)
        form.addRow("working folder", self.cwd)
        form.addRow("time limit", self.timeout)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.resize(620, self.sizeHint().height())

    def _browse(self):
        path, _ = QFileDialog.getOpenFileName(self, "Your microgpt script", str(Path(self.path.text()).parent), "Python (*.py);;All files (*)")
        if path:
            self.path.setText(path)

    def _accept(self):
        if self.request() is not None:
            self.accept()

    def request(self):
        """The ScriptRequest, or None (with the reason shown) when a field cannot be read."""
        path = self.path.text().strip()
        if not path:
            self.problem.setText("choose a script")
            return None
        try:
            args = tuple(shlex.split(self.args.text()))
        except ValueError as e:
            self.problem.setText(f"cannot split the arguments: {e}")
            return None
        self.problem.setText("")
        return ScriptRequest(path, args, self.cwd.text().strip(), self.timeout.value())
