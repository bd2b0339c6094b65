"""The breadcrumb above the graph: which loss cone, which scope is in focus, where the selection lies.

`loss of position 2 › pos2 › layer0 › attn` : each part is a button that focuses the graph
on that scope (the first shows the whole cone again). Parts below the focus, down to the
selected node's scope, are drawn lighter: they say where the selection is.
"""
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget


class Breadcrumb(QWidget):
    crumbClicked = pyqtSignal(str)  # scope path to focus; "" for the whole cone

    def __init__(self, parent=None):
        super().__init__(parent)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(0)
        self.parts = []  # (text, path) of each crumb, in order

    def set_path(self, root_text, focus, selection_scope=""):
        """root_text: what the view shows; focus: the focused scope path; selection_scope: the selected node's."""
        while self._layout.count():
            item = self._layout.takeAt(0)
            if item.widget() is not None:
                item.widget().hide()  # deleted only when the event loop next runs: never drawn meanwhile
                item.widget().deleteLater()
        self.parts = [(root_text, "")]
        focus_parts = focus.split("/") if focus else []
        for k in range(len(focus_parts)):
            self.parts.append((focus_parts[k], "/".join(focus_parts[: k + 1])))
        lighter_from = len(self.parts)
        if selection_scope and (not focus or selection_scope.startswith(focus + "/") or selection_scope == focus):
            rest = selection_scope[len(focus):].strip("/").split("/") if selection_scope != focus else []
            base = focus_parts
            for name in (r for r in rest if r):
                base = base + [name]
                self.parts.append((name, "/".join(base)))
        for k, (text, path) in enumerate(self.parts):
            if k:
                self._layout.addWidget(QLabel(" › "))
            button = QToolButton()
            button.setText(text)
            button.setAutoRaise(True)
            button.setToolTip("show the whole cone" if not path else f"focus the graph on {path}")
            if k >= lighter_from:
                button.setStyleSheet("color: #777;")
            elif k == lighter_from - 1:
                font = button.font()
                font.setBold(True)
                button.setFont(font)
            button.clicked.connect(lambda _=False, p=path: self.crumbClicked.emit(p))
            self._layout.addWidget(button)
        self._layout.addStretch(1)

    def texts(self):
        return [text for text, _ in self.parts]
