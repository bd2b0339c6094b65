"""Search (Ctrl+F): core's query language over the step's nodes; results list; Enter jumps to the node."""
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QLabel, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from core.views.search import search
from microgpt_viz.session.labels import node_text, number

SHOWN = 500  # results listed; the count says how many matched in all
NODE_ROLE = Qt.ItemDataRole.UserRole
HELP = ("op:exp  scope:pos3/*/softmax  param:lm_head  kind:param  pos:3\n"
        "grad>1e-2  |data|>5  nan  inf     (terms combine with AND)")


class SearchPanel(QWidget):
    nodeChosen = pyqtSignal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.trace = None
        self.results = []
        self._last_query = None
        self._stale = False  # the results are of an earlier step (the dock was hidden when it came)
        self.query = QLineEdit()
        self.query.setPlaceholderText("search nodes, e.g. op:exp pos:3 |grad|>0.01")
        self.query.setClearButtonEnabled(True)
        self.help = QLabel(HELP)
        self.help.setStyleSheet("color: #666;")
        self.help.setWordWrap(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.list = QListWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.query)
        layout.addWidget(self.help)
        layout.addWidget(self.status)
        layout.addWidget(self.list, 1)
        self.query.returnPressed.connect(self._enter)
        self.list.itemActivated.connect(self._activated)
        self.list.itemClicked.connect(self._activated)

    def set_trace(self, trace):
        """A new step: the same query, run again on it (when the dock is next shown, if it is hidden:
        on a million-Value step a search takes ~60 ms, and a hidden list need not be current)."""
        self.trace = trace
        self._stale = bool(self.query.text().strip() and self.results)
        if self._stale and self.isVisible():
            self._rerun()

    def showEvent(self, event):
        super().showEvent(event)
        if self._stale:
            self._rerun()

    def _rerun(self):
        self._stale = False
        self.run(self.query.text())

    def focus_query(self):
        self.query.setFocus()
        self.query.selectAll()

    def run(self, text):
        """Run a query; returns the matching node ids (all of them)."""
        self._stale = False
        self.list.clear()
        self.results = []
        if self.trace is None:
            return []
        try:
            hits = search(self.trace, text)
        except ValueError as e:
            self.status.setStyleSheet("color: #b00;")
            self.status.setText(str(e))
            return []
        self.results = [int(h) for h in hits]
        self.status.setStyleSheet("")
        more = f" (first {SHOWN} listed)" if len(self.results) > SHOWN else ""
        self.status.setText(f"{len(self.results)} node{'s' if len(self.results) != 1 else ''} match{more}")
        for node in self.results[:SHOWN]:
            item = QListWidgetItem(f"{node_text(self.trace, node)}   data {number(self.trace.data[node], 4)}  grad {number(self.trace.grad[node], 4)}")
            item.setData(NODE_ROLE, node)
            self.list.addItem(item)
        return self.results

    def _enter(self):
        """Enter runs the query and jumps to the first match; Enter again steps to the next one."""
        text = self.query.text().strip()
        if self._stale:  # a new step came while the dock was hidden
            self._rerun()
        if self.results and text == self._last_query:
            row = (self.list.currentRow() + 1) % self.list.count()
        else:
            self._last_query = text
            if not self.run(text):
                return
            row = 0
        self.list.setCurrentRow(row)
        self._activated(self.list.item(row))

    def _activated(self, item):
        if item is not None:
            self.nodeChosen.emit(int(item.data(NODE_ROLE)))
