"""Gradient check of the shown step (core/debug/gradcheck.py): a random sample or the selected node.

Each checked value costs two recomputations of the step; in the app they run in the debug
panels' worker thread.
"""
from PyQt6.QtWidgets import QPushButton, QSpinBox

from core.debug.gradcheck import GradChecker, replay_problem, sample_params
from microgpt_viz.app.debug.debug_panel import DebugPanel, failure_text, show_status
from microgpt_viz.session.labels import number

FAIL_COLOUR, KINK_COLOUR = "#b00020", "#777777"
EXPLANATION = ("Each recorded grad against a central finite difference of the loss, "
               "(L(x + h) - L(x - h)) / 2h, for a random sample of parameters or the selected value.")
IDLE = "pick how many parameters to sample, or select a value in the graph"


class GradCheckPanel(DebugPanel):
    def __init__(self, parent=None):
        super().__init__(EXPLANATION, parent)
        self.selected = None
        self.report = None
        self.problem = None  # why this step cannot be checked (a script's op the checker cannot recompute), or None
        self.count = QSpinBox()
        self.count.setRange(1, 500)
        self.count.setValue(20)
        self.count.setSuffix(" parameters")
        self.check_sample = QPushButton("Check sample")
        self.check_selected = QPushButton("Check selected node")
        self.check_selected.setEnabled(False)
        self.add_row(self.count, self.check_sample, self.check_selected)
        self.summary = self.add_status(IDLE)
        self.add_table(["node", "recorded", "numerical", "rel err", "verdict"])
        self.check_sample.clicked.connect(lambda: self.run_sample(self.count.value()))
        self.check_selected.clicked.connect(lambda: self.run_nodes([self.selected]))

    def set_trace(self, trace):
        """A new step: earlier results belong to the old one."""
        self.background.cancel()
        self.trace = trace
        self.report = None
        # the model's own steps hold only ops the tape replays; a script's may not (checking walks every node)
        self.problem = replay_problem(trace) if trace.config is None else None
        self.table.set_rows([])
        show_status(self.summary, f"not available for this step: {self.problem}" if self.problem else IDLE)
        self.check_sample.setEnabled(self.problem is None)
        self.set_selected(self.selected)

    def set_selected(self, node):
        self.selected = node
        self.check_selected.setEnabled(node is not None and self.trace is not None and self.problem is None)

    def run_sample(self, count):
        if self.trace is None or self.problem:
            return None
        return self.run_nodes(sample_params(self.trace, count))

    def run_nodes(self, nodes):
        """Check these nodes; returns the report when computed inline, else None (it shows when ready)."""
        if self.trace is None or not nodes:
            return None
        trace, nodes = self.trace, list(nodes)
        show_status(self.summary, f"checking {len(nodes)} value{'s' if len(nodes) != 1 else ''}…")
        self.background.run(lambda: GradChecker(trace).check(nodes), self._show, self._failed)
        return None if self.background.busy else self.report

    def _failed(self, error):
        self.report = None
        self.table.set_rows([])
        show_status(self.summary, str(error) if isinstance(error, ValueError) else failure_text("the check", error), error=True)

    def _show(self, report):
        self.report = report
        rows = []
        for r in report.rows:
            verdict = "kink" if r.kink else ("FAIL" if report.failed(r) else "ok")
            colour = KINK_COLOUR if r.kink else (FAIL_COLOUR if verdict == "FAIL" else None)
            rows.append(((r.label, number(r.recorded), number(r.numerical), f"{r.rel_error:.1e}", verdict), r.node, colour))
        self.table.set_rows(rows)
        worst = report.worst
        worst_text = f"; worst relative error {worst.rel_error:.1e} ({worst.label})" if worst else ""
        if report.passed:
            show_status(self.summary, f"ok: {len(report.rows)} checked, all within {report.tolerance:g}{worst_text}")
        else:
            show_status(self.summary, f"{len(report.failures)} of {len(report.rows)} exceed {report.tolerance:g}{worst_text}", error=True)
