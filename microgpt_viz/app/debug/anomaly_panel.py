"""The anomaly report of the shown step (core/debug/anomaly.py); a row jumps to its node.

The report of a 60,000-node step takes most of a second (it reads the whole graph's
wiring), so in the app it is computed in the debug panels' worker thread.
"""
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from core.debug.anomaly import check
from microgpt_viz.app.debug.background import Background
from microgpt_viz.app.widgets.node_table import NodeTable

EXPLANATION = ("NaN / Inf, dead ReLUs, saturated softmaxes, gradient scale per layer and the costliest tokens "
               "of the shown step. Click a row to see its node.")

COLOURS = {"error": "#b00020", "warning": "#a05a00", "info": None}


class AnomalyPanel(QWidget):
    nodeClicked = pyqtSignal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.trace = None
        self.report = None
        self.background = Background()
        self.explanation = QLabel(EXPLANATION)
        self.explanation.setWordWrap(True)
        self.explanation.setStyleSheet("color: #666;")
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
        layout.addWidget(self.explanation)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        self.table.nodeClicked.connect(self.nodeClicked)
        self.problems_only.toggled.connect(lambda _: self._show())
        self.recheck.clicked.connect(self.run)

    def set_trace(self, trace):
        """A new step: check it (the old report's rows point into the old step, so they go)."""
        self.trace = trace
        self.report = None
        self.table.set_rows([])
        self.run()

    def run(self):
        """Check the step; the report shows when it is ready (at once when computing inline)."""
        if self.trace is None:
            return None
        trace = self.trace
        self.summary.setText(f"checking step {trace.step + 1}…")
        self.recheck.setEnabled(False)
        self.background.run(lambda: check(trace), self._report_ready, self._failed)
        return None if self.background.busy else self.report

    def _report_ready(self, report):
        self.report = report
        self.recheck.setEnabled(True)
        self._show()

    def _failed(self, error):
        self.report = None
        self.recheck.setEnabled(True)
        self.table.set_rows([])
        self.summary.setText(f"the check failed: {type(error).__name__}: {error}")

    def _show(self):
        report = self.report
        if report is None:
            return
        errors, warnings = len(report.of_severity("error")), len(report.of_severity("warning"))
        what = f"step {report.step + 1} on {report.doc!r}" if report.doc else "the script's step"
        self.summary.setText(f"{what}: {errors} errors, {warnings} warnings")
        findings = [f for f in report.findings if not self.problems_only.isChecked() or f.severity != "info"]
        self.table.set_rows([((f.severity, f.kind, f.message), f.nodes[0] if f.nodes else None, COLOURS[f.severity]) for f in findings])
