"""The anomaly report of the shown step (core/anomaly.py); a row jumps to its node."""
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from core.anomaly import check
from microgpt_viz.node_table import NodeTable

COLOURS = {"error": "#b00020", "warning": "#a05a00", "info": None}


class AnomalyPanel(QWidget):
    nodeClicked = pyqtSignal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.trace = None
        self.report = None
        self.summary = QLabel("no step yet")
        self.problems_only = QCheckBox("problems only")
        self.recheck = QPushButton("Check")
        self.table = NodeTable(["severity", "kind", "finding"])
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.problems_only)
        top.addWidget(self.recheck)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        self.table.nodeClicked.connect(self.nodeClicked)
        self.problems_only.toggled.connect(lambda _: self._show())
        self.recheck.clicked.connect(self.run)

    def set_trace(self, trace):
        """A new step: check it (tens of milliseconds on a 60,000-node step)."""
        self.trace = trace
        self.run()

    def run(self):
        if self.trace is None:
            return None
        self.report = check(self.trace)
        self._show()
        return self.report

    def _show(self):
        report = self.report
        errors, warnings = len(report.of_severity("error")), len(report.of_severity("warning"))
        self.summary.setText(f"step {report.step + 1} on {report.doc!r}: {errors} errors, {warnings} warnings")
        findings = [f for f in report.findings if not self.problems_only.isChecked() or f.severity != "info"]
        self.table.set_rows([((f.severity, f.kind, f.message), f.nodes[0] if f.nodes else None, COLOURS[f.severity]) for f in findings])
