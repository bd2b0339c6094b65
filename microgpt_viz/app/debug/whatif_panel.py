"""What-if: give the selected node another value, see the loss and every value downstream move.

The edit is computed on the recorded graph (core/debug/reevaluate.py); the step itself never
changes, so Undo just forgets the result. Flattening the step for recomputation takes most
of a second the first time: in the app edits run in the debug panels' worker thread.
"""
import numpy as np
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QLineEdit, QPushButton

from core.debug.gradcheck import replay_problem
from core.debug.reevaluate import Reevaluator
from microgpt_viz.app.debug.debug_panel import DebugPanel, show_status
from microgpt_viz.session.labels import node_text, number

SHOWN = 200  # most changed nodes listed
EXPLANATION = ("Give the selected value another number: the forward and backward are recomputed, the loss "
               "and every value downstream move, and the graph is coloured by the change. Undo forgets it.")


class WhatIfPanel(DebugPanel):
    resultChanged = pyqtSignal(object)  # core.debug.reevaluate.WhatIf, or None after Undo / a new step

    def __init__(self, parent=None):
        super().__init__(EXPLANATION, parent)
        self.node = None
        self.result = None
        self._reevaluator = None
        self.problem = None  # why this step cannot be recomputed (a script's op the tape does not know), or None
        self.target = self.add_status("select a value in the graph to edit it")
        self.value = QLineEdit()
        self.value.setPlaceholderText("new value")
        self.apply = QPushButton("Apply")
        self.undo = QPushButton("Undo")
        self.add_row(self.value, self.apply, self.undo, grow=self.value)
        self.outcome = self.add_status()
        self.add_table(["node", "data before", "data after", "grad before", "grad after"])
        self.apply.clicked.connect(self._apply_text)
        self.value.returnPressed.connect(self._apply_text)
        self.undo.clicked.connect(self.clear)
        self._enable()

    def set_trace(self, trace):
        self.background.cancel()
        self.trace = trace
        self._reevaluator = None
        # the model's own steps hold only ops the tape replays; a script's may not (checking walks every node)
        self.problem = replay_problem(trace) if trace.config is None else None
        self.node = None
        self.target.setText(self._idle_text())
        self.clear()

    def _idle_text(self):
        if self.problem:
            return f"not available for this step: {self.problem.replace('gradcheck', 'what-if')}"
        return "select a value in the graph to edit it"

    def set_node(self, node):
        """The node an edit would change (the app's selection)."""
        if self.trace is None or node is None or self.problem:
            self.node = None
            self.target.setText(self._idle_text())
        else:
            self.node = int(node)
            self.target.setText(f"{node_text(self.trace, self.node)} = {number(float(self.trace.data[self.node]))}")
            self.value.setText(repr(float(self.trace.data[self.node])))
        self._enable()

    def _enable(self):
        self.apply.setEnabled(self.node is not None)
        self.undo.setEnabled(self.result is not None)

    def _apply_text(self):
        try:
            value = float(self.value.text())
        except ValueError:
            show_status(self.outcome, f"not a number: {self.value.text()!r}", error=True)
            return None
        return self.edit(value)

    def edit(self, value):
        """Set the selected node to `value`; returns the WhatIf when computed inline, else None (resultChanged tells)."""
        if self.node is None:
            return None
        trace, node, reevaluator = self.trace, self.node, self._reevaluator

        def job():
            nonlocal reevaluator
            reevaluator = reevaluator or Reevaluator(trace)
            return reevaluator, reevaluator.set_node(node, value)

        self.value.setText(repr(float(value)))
        show_status(self.outcome, "recomputing the step…")
        self.apply.setEnabled(False)
        self.background.run(job, lambda done: self._show(trace, node, *done), self._failed)
        return None if self.background.busy else self.result

    def _failed(self, error):
        self._enable()
        show_status(self.outcome, f"cannot recompute this step: {error}", error=True)

    def _show(self, trace, node, reevaluator, result):
        self._reevaluator = reevaluator
        self.result = result
        changed = result.changed_nodes()
        self.outcome.setText(
            f"loss {number(result.loss_before)} → {number(result.loss_after)} (Δ {result.loss_delta:+.4e}); "
            f"{len(changed)} values changed"
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            move = np.nan_to_num(np.abs(result.data_delta[changed]) + np.abs(result.grad_delta[changed]), nan=np.inf)
        order = changed[np.argsort(-move, kind="stable")]
        order = ([node] + [n for n in order if n != node])[:SHOWN]  # the edited value first
        t = trace
        self.table.set_rows([
            ((node_text(t, n), number(t.data[n]), number(result.data[n]), number(t.grad[n]), number(result.grad[n])), int(n), None)
            for n in order
        ])
        self._enable()
        self.resultChanged.emit(result)

    def clear(self):
        """Undo: forget the edit; the recorded step was never changed."""
        self.background.cancel()
        had = self.result is not None
        self.result = None
        self.outcome.setText("")
        self.table.set_rows([])
        self._enable()
        if had:
            self.resultChanged.emit(None)
