"""What the five debugging docks share: a grey explanation on top, rows of controls, a status
line, usually a table of nodes (a click shows the node), the trace they read and a Background
for their heavy computation.

A panel builds its body top to bottom with add_row / add_status / add_table; the look (margins,
the explanation's colour, how failures are worded) is decided here once.
"""
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from microgpt_viz.app.debug.background import Background
from microgpt_viz.app.widgets.node_table import NodeTable

GAP = None  # in add_row: a stretchable gap, pushing what follows to the right
ERROR_STYLE = "color: #b00020;"


class DebugPanel(QWidget):
    nodeClicked = pyqtSignal(int)  # a row of the table was clicked: show this node

    def __init__(self, explanation, parent=None):
        super().__init__(parent)
        self.trace = None  # the step the panel reads (a core.trace.record.Trace), once set_trace has run
        self.background = Background()
        self.table = None
        self.explanation = QLabel(explanation)
        self.explanation.setWordWrap(True)
        self.explanation.setStyleSheet("color: #666;")
        self._body = QVBoxLayout(self)
        self._body.setContentsMargins(2, 2, 2, 2)
        self._body.addWidget(self.explanation)

    def set_trace(self, trace):
        """A new step is shown: whatever the panel showed belonged to the old one."""
        raise NotImplementedError

    def add_row(self, *items, grow=None):
        """A row of widgets; GAP among them is a stretchable gap, `grow` the widget that takes the spare width."""
        row = QHBoxLayout()
        for item in items:
            if item is GAP:
                row.addStretch(1)
            else:
                row.addWidget(item, 1 if item is grow else 0)
        self._body.addLayout(row)
        return row

    def add_status(self, text=""):
        """A word-wrapped line that says what the panel is doing or found."""
        label = QLabel(text)
        label.setWordWrap(True)
        self._body.addWidget(label)
        return label

    def add_table(self, columns):
        """The table of nodes, taking the rest of the height; a click on a row emits nodeClicked."""
        self.table = NodeTable(columns)
        self.table.nodeClicked.connect(self.nodeClicked)
        self._body.addWidget(self.table, 1)
        return self.table

    def end_without_table(self):
        """For a panel with no table: keep its rows at the top."""
        self._body.addStretch(1)


def show_status(label, text, error=False):
    """Put `text` on a status line, in the error colour when it reports a failure."""
    label.setText(text)
    label.setStyleSheet(ERROR_STYLE if error else "")


def failure_text(what, error):
    """'the check failed: ValueError: ...': how a panel reports a computation that raised."""
    return f"{what} failed: {type(error).__name__}: {error}"
