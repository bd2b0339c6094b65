"""What-if: give the selected node another value, see the loss and every value downstream move.

The edit is computed on the recorded graph (core/reevaluate.py); the step itself never
changes, so Undo just forgets the result.
"""
import numpy as np
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from core.reevaluate import Reevaluator
from microgpt_viz.labels import node_text, number
from microgpt_viz.node_table import NodeTable

SHOWN = 200  # most changed nodes listed


class WhatIfPanel(QWidget):
    nodeClicked = pyqtSignal(int)
    resultChanged = pyqtSignal(object)  # core.reevaluate.WhatIf, or None after Undo / a new step

    def __init__(self, parent=None):
        super().__init__(parent)
        self.trace = None
        self.node = None
        self.result = None
        self._reevaluator = None
        self.target = QLabel("select a value in the graph to edit it")
        self.target.setWordWrap(True)
        self.value = QLineEdit()
        self.value.setPlaceholderText("new value")
        self.apply = QPushButton("Apply")
        self.undo = QPushButton("Undo")
        self.outcome = QLabel("")
        self.outcome.setWordWrap(True)
        self.table = NodeTable(["node", "data before", "data after", "grad before", "grad after"])
        row = QHBoxLayout()
        row.addWidget(self.value, 1)
        row.addWidget(self.apply)
        row.addWidget(self.undo)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.target)
        layout.addLayout(row)
        layout.addWidget(self.outcome)
        layout.addWidget(self.table, 1)
        self.table.nodeClicked.connect(self.nodeClicked)
        self.apply.clicked.connect(self._apply_text)
        self.value.returnPressed.connect(self._apply_text)
        self.undo.clicked.connect(self.clear)
        self._enable()

    def set_trace(self, trace):
        self.trace = trace
        self._reevaluator = None
        self.node = None
        self.target.setText("select a value in the graph to edit it")
        self.clear()

    def set_node(self, node):
        """The node an edit would change (the app's selection)."""
        if self.trace is None or node is None:
            self.node = None
            self.target.setText("select a value in the graph to edit it")
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
            self.outcome.setText(f"not a number: {self.value.text()!r}")
            self.outcome.setStyleSheet("color: #b00020;")
            return None
        return self.edit(value)

    def edit(self, value):
        if self.node is None:
            return None
        if self._reevaluator is None:
            self._reevaluator = Reevaluator(self.trace)
        result = self.result = self._reevaluator.set_node(self.node, value)
        self.outcome.setStyleSheet("")
        changed = result.changed_nodes()
        self.outcome.setText(
            f"loss {number(result.loss_before)} → {number(result.loss_after)} (Δ {result.loss_delta:+.4e}); "
            f"{len(changed)} values changed"
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            move = np.nan_to_num(np.abs(result.data_delta[changed]) + np.abs(result.grad_delta[changed]), nan=np.inf)
        order = changed[np.argsort(-move, kind="stable")][:SHOWN]
        t = self.trace
        self.table.set_rows([
            ((node_text(t, n), number(t.data[n]), number(result.data[n]), number(t.grad[n]), number(result.grad[n])), int(n), None)
            for n in order
        ])
        self._enable()
        self.resultChanged.emit(result)
        return result

    def clear(self):
        """Undo: forget the edit; the recorded step was never changed."""
        had = self.result is not None
        self.result = None
        self.outcome.setText("")
        self.table.set_rows([])
        self._enable()
        if had:
            self.resultChanged.emit(None)
