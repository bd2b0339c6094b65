"""A read-only table whose rows each stand for a node: clicking a row asks to jump to it."""
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

NODE_ROLE = Qt.ItemDataRole.UserRole


class NodeTable(QTableWidget):
    nodeClicked = pyqtSignal(int)

    def __init__(self, headers, parent=None):
        super().__init__(0, len(headers), parent)
        self.setHorizontalHeaderLabels(headers)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)
        self.cellClicked.connect(self._clicked)
        self.cellActivated.connect(self._clicked)

    def set_rows(self, rows):
        """rows: (cells, node id or None, colour or None) each; cells are strings."""
        self.setRowCount(0)
        self.setRowCount(len(rows))
        for r, (cells, node, colour) in enumerate(rows):
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(NODE_ROLE, node)
                if colour:
                    item.setForeground(QColor(colour))
                self.setItem(r, c, item)

    def node_at(self, row):
        item = self.item(row, 0)
        return None if item is None else item.data(NODE_ROLE)

    def _clicked(self, row, _column):
        node = self.node_at(row)
        if node is not None:
            self.nodeClicked.emit(int(node))
