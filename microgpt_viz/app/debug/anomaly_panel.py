"""The anomaly report of the shown step (core/debug/anomaly.py); a row jumps to its node.

The report of a 60,000-node step takes most of a second (it reads the whole graph's
wiring), so in the app it is computed in the debug panels' worker thread.
"""
from PyQt6.QtWidgets import QCheckBox, QLabel, QPushButton

from core.debug.anomaly import check
from microgpt_viz.app.debug.debug_panel import DebugPanel, failure_text

EXPLANATION = ("NaN / Inf, dead ReLUs, saturated softmaxes, gradient scale per layer and the costliest tokens "
               "of the shown step. Click a row to see its node.")

COLOURS = {"error": "#b00020", "warning": "#a05a00", "info": None}


class AnomalyPanel(DebugPanel):
    def __init__(self, parent=None):
        super().__init__(EXPLANATION, parent)
        self.report = None
        self.summary = QLabel("no step yet")
        self.problems_only = QCheckBox("problems only")
        self.recheck = QPushButton("Check")
        self.add_row(self.summary, self.problems_only, self.recheck, grow=self.summary)
        self.add_table(["severity", "kind", "finding"])
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
        self.summary.setText(f"checking step {trace.step}…")
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
        self.summary.setText(failure_text("the check", error))

    def _show(self):
        report = self.report
        if report is None:
            return
        errors, warnings = len(report.of_severity("error")), len(report.of_severity("warning"))
        what = f"step {report.step} on {report.doc!r}" if report.doc else "the script's step"
        self.summary.setText(f"{what}: {errors} errors, {warnings} warnings")
        findings = [f for f in report.findings if not self.problems_only.isChecked() or f.severity != "info"]
        self.table.set_rows([((f.severity, f.kind, f.message), f.nodes[0] if f.nodes else None, COLOURS[f.severity]) for f in findings])
