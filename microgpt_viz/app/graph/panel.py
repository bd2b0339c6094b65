"""The central area: navigation bar (back, forward, breadcrumb, level, colouring) over the graph view.

Laying out happens elsewhere (Graphviz runs off the GUI thread); this panel shows what it
is given and says so while a layout is on its way.
"""
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QPainter
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from microgpt_viz.app.graph.breadcrumb import Breadcrumb
from microgpt_viz.app.graph.view import GraphView
from microgpt_viz.app.graph.legend import Legend
from microgpt_viz.app.graph.node_colours import node_fills
from microgpt_viz.session.model import CHANGE_MODES, COLOUR_MODES

LEVEL_CHOICES = ("module", "vector", "scalar")
HINT = "drag: pan · wheel: zoom · click: select · double-click: open / close"


class ElidedLabel(QLabel):
    """One line of text that ends in "…" where there is no room (the whole text is its tooltip);
    it never asks for width, so it can never push or overlap the widgets beside it."""

    def __init__(self, text, parent=None):
        super().__init__(text, parent)
        self.setToolTip(text)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def shown_text(self):
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, self.contentsRect().width())

    def paintEvent(self, event):
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(self.contentsRect(), int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), self.shown_text())


class GraphPanel(QWidget):
    backRequested = pyqtSignal()
    forwardRequested = pyqtSignal()
    levelChosen = pyqtSignal(str)
    colourChosen = pyqtSignal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.back_button = QToolButton()
        self.back_button.setText("◀")
        self.back_button.setToolTip("Back (Alt+Left)")
        self.forward_button = QToolButton()
        self.forward_button.setText("▶")
        self.forward_button.setToolTip("Forward (Alt+Right)")
        self.breadcrumb = Breadcrumb()
        self.level = QComboBox()
        self.level.addItems(LEVEL_CHOICES)
        self.level.setToolTip("Open every group down to this level of detail (scalar can take Graphviz a while)")
        self.colour = QComboBox()
        self.colour.addItems(COLOUR_MODES)
        self.colour.setToolTip("Colour boxes by grad, |grad| or data; Δ data and Δ grad colour by the change\n"
                               "a what-if edit or a step diff makes (available while one is shown)")
        self.fit_button = QToolButton()
        self.fit_button.setText("Fit")
        self.fit_button.setToolTip("Show the whole graph (0)")
        crumbs = QHBoxLayout()
        crumbs.setContentsMargins(4, 2, 4, 0)
        crumbs.addWidget(self.back_button)
        crumbs.addWidget(self.forward_button)
        crumbs.addWidget(self.breadcrumb, 1)
        self.hint = ElidedLabel(HINT)
        self.hint.setStyleSheet("color: #777;")
        self.tools = QHBoxLayout()
        tools = self.tools
        tools.setContentsMargins(6, 0, 4, 2)
        tools.addWidget(self.hint, 1)
        tools.addSpacing(6)
        tools.addWidget(QLabel("level"))
        tools.addWidget(self.level)
        tools.addWidget(QLabel("colour"))
        tools.addWidget(self.colour)
        tools.addWidget(self.fit_button)
        self.view = GraphView()
        self.legend = Legend()
        self.notice = QLabel("", self.view.viewport())
        self.notice.setStyleSheet("background: rgba(255, 250, 220, 235); border: 1px solid #cca; padding: 4px;")
        self.notice.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(crumbs)
        layout.addLayout(tools)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.legend)
        self.back_button.clicked.connect(self.backRequested)
        self.forward_button.clicked.connect(self.forwardRequested)
        self.level.activated.connect(lambda i: self.levelChosen.emit(LEVEL_CHOICES[i]))
        self.colour.activated.connect(lambda i: self.colourChosen.emit(COLOUR_MODES[i]))
        self.fit_button.clicked.connect(lambda: self.view.fit(whole=True))
        self.view.viewport().installEventFilter(self)
        self._rendered = None
        self.set_change_available(False)

    def show_graph(self, rendered, layout, colour_mode, selected=None, anchor=None, fit=False, home=None, change=None,
                   on_shown=None, colours=None):
        """on_shown(): once the picture is on screen (a big new one is made over several event-loop turns).
        colours: node_fills(rendered, colour_mode, change) if already made (in the layout worker)."""
        fills, scale = colours or node_fills(rendered, colour_mode, change)
        self._rendered = rendered
        self.view.show_graph(rendered, layout, fills, selected, anchor=anchor, fit=fit, home=home, on_shown=on_shown)
        self.legend.set_scale(scale)
        self._place_overlays()

    def recolour(self, rendered, colour_mode, change=None):
        fills, scale = node_fills(rendered, colour_mode, change)
        self.view.recolour(rendered, fills)
        self.legend.set_scale(scale)
        self._place_overlays()

    def set_colour_mode(self, mode):
        self.colour.setCurrentText(mode)

    def set_change_available(self, available):
        """The Δ entries of the colour menu can be chosen only while a change is shown."""
        model = self.colour.model()
        for mode in CHANGE_MODES:
            model.item(COLOUR_MODES.index(mode)).setEnabled(available)

    def set_level(self, level):
        self.level.setCurrentText(level or "module")

    def set_history(self, can_back, can_forward):
        self.back_button.setEnabled(can_back)
        self.forward_button.setEnabled(can_forward)

    def set_notice(self, text):
        """A message over the graph (e.g. 'laying out 9774 boxes…'); '' hides it."""
        self.notice.setText(text)
        self.notice.setVisible(bool(text))
        self.notice.adjustSize()
        self._place_overlays()

    def eventFilter(self, watched, event):
        if watched is self.view.viewport() and event.type() == event.Type.Resize:
            self._place_overlays()
        return False

    def _place_overlays(self):
        area = self.view.viewport().rect()
        self.notice.move((area.width() - self.notice.width()) // 2, 8)
        self.notice.raise_()
