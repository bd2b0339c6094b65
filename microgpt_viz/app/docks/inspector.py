"""The node inspector: everything about one value, and the values around it, clickable.

For a scalar: op, data, grad, kind, scope, parameter and index, source line; its inputs
with the local gradient of each edge; its consumers with the gradient each sends back.
The consumers' contributions add up to the node's own grad (the chain rule, made visible),
and the table ends with that sum. For a group: what it holds and its largest values.
"""
import math

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont
from PyQt6.QtWidgets import (
    QAbstractItemView, QFormLayout, QHeaderView, QLabel, QPushButton, QSizePolicy, QTableWidget, QTableWidgetItem,
    QVBoxLayout, QWidget,
)

from core.views.navigate import attention_cell_of, consumers_of, inputs_of
from microgpt_viz.session.labels import OP_NAMES, node_text, number, op_text, parameter_text, source_text

NODE_ROLE = Qt.ItemDataRole.UserRole
# made once: combining the flags builds a new enum member for every cell (25 us idle, profiled at
# over 1 ms while the training worker competes for the GIL; a Step refills ~100 cells)
NUMBER_ALIGNMENT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


def attention_text(trace, node):
    """'attention weight: query pos 3 ('l') → key pos 1 ('e'), layer 0, head 2', or None for other values."""
    cell = attention_cell_of(trace, node)
    if cell is None:
        return None
    labels = trace.token_labels

    def pos(t):
        return f"pos {t} ({labels[t]!r})" if t < len(labels) else f"pos {t}"

    return f"attention weight: query {pos(cell.query)} → key {pos(cell.key)}, layer {cell.layer}, head {cell.head}"


class _Fields(QWidget):
    """Named rows of text made once and filled in place: a Step with a value selected refills the
    inspector, and making its labels afresh each time (shown, polished, laid out) cost more than
    everything else the inspector does."""

    MONO = ("data", "grad", "largest |data|", "largest |grad|")

    def __init__(self, names, parent=None):
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        # never squeezed below its rows' height by the tables below it
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.labels = {}
        for name in names:
            label = QLabel("")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            if name in self.MONO:
                label.setFont(QFont("monospace"))
            self.form.addRow(name, label)
            self.labels[name] = label

    def show_values(self, values):
        """values: name -> text for the rows to show; the other rows hide."""
        for name, label in self.labels.items():
            text = values.get(name)
            if text is not None and label.text() != text:
                label.setText(text)
            self.form.setRowVisible(label, text is not None)

    def text(self, name):
        """What row `name` says, or None while it is hidden."""
        label = self.labels[name]
        return label.text() if not label.isHidden() else None


NODE_FIELDS = ("op", "data", "grad", "kind", "scope", "position", "parameter", "source", "backward order")
GROUP_FIELDS = ("group", "kind", "values", "position", "largest |data|", "largest |grad|", "not finite")


def _table(headers):
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setWordWrap(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    for column in range(1, len(headers)):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
    table.setMouseTracking(True)
    return table


class Inspector(QWidget):
    nodeClicked = pyqtSignal(int)  # an input or consumer was clicked: go there
    sourceClicked = pyqtSignal(str, int)  # file, line
    expandRequested = pyqtSignal(str)  # a group's "Expand" button

    def __init__(self, parent=None):
        super().__init__(parent)
        self.trace = None
        self.node = None
        self.title = QLabel("Nothing selected")
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.role = QLabel("")  # what the value means in the model, when the app can tell (an attention weight)
        self.role.setWordWrap(True)
        self.role.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.role.hide()
        self.node_fields = _Fields(NODE_FIELDS)
        self.group_fields = _Fields(GROUP_FIELDS)
        source = self.node_fields.labels["source"]
        source.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        source.setToolTip("Show this line in the source view")
        source.linkActivated.connect(lambda _: self._source and self.sourceClicked.emit(*self._source))
        self._source = None  # (file, line) the source row links to
        self.node_fields.labels["backward order"].setToolTip("backward() visits values in this order, starting at the loss")
        self.expand_button = QPushButton("Expand")
        self.expand_button.hide()
        self.inputs_label = QLabel("Inputs")
        self.inputs = _table(["input", "data", "∂self/∂input", "grad sent"])
        self.inputs.setToolTip("Click an input to go to it. grad sent = local gradient × this node's grad")
        self.consumers_label = QLabel("Consumers")
        self.consumers = _table(["consumer", "its grad", "∂it/∂self", "contribution"])
        self.consumers.setToolTip("Click a consumer to go to it. The contributions add up to this node's grad")
        self.sum_label = QLabel("")
        self.sum_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.role)
        layout.addWidget(self.node_fields)
        layout.addWidget(self.group_fields)
        layout.addWidget(self.expand_button)
        layout.addWidget(self.inputs_label)
        layout.addWidget(self.inputs, 1)
        layout.addWidget(self.consumers_label)
        layout.addWidget(self.consumers, 2)
        layout.addWidget(self.sum_label)
        layout.addStretch(0)  # takes the room the tables leave when hidden: a group's fields stay at the top
        self._layout = layout
        self.inputs.cellClicked.connect(lambda row, _: self._clicked(self.inputs, row))
        self.consumers.cellClicked.connect(lambda row, _: self._clicked(self.consumers, row))
        self._group_id = None
        self.expand_button.clicked.connect(lambda: self._group_id and self.expandRequested.emit(self._group_id))
        self.show_nothing()

    # ---- showing --------------------------------------------------------------------
    def show_nothing(self, text="Nothing selected: click a box in the graph, a token, or a heatmap cell"):
        self.node = None
        self.title.setText(text)
        self._show_role(None)
        self._show_fields(None, {})
        self._show_tables(False)
        self.expand_button.hide()

    def show_node(self, trace, node):
        """A single scalar value of the step."""
        self.trace, self.node = trace, int(node)
        attrs = trace.node_attributes(self.node)
        kind = attrs["kind"]
        what = OP_NAMES.get(attrs["op"], attrs["op"])
        name = parameter_text(attrs) or f"{op_text(attrs)} ({what})"
        self.title.setText(f"#{self.node}  {name} = {number(attrs['data'])}")
        self._show_role(attention_text(trace, self.node))
        values = {
            "op": f"{op_text(attrs)}   ({what})",
            "data": number(attrs["data"], 10),
            "grad": f"{number(attrs['grad'], 10)}   (d loss / d this)",
            "kind": kind,
            "scope": attrs["scope"] or "(none)",
            "backward order": f"{attrs['order']}  (the loss is 0)",
        }
        if attrs["pos"] >= 0:
            t = attrs["pos"]
            if t + 1 < len(trace.token_labels):
                values["position"] = f"{t}: reads {trace.token_labels[t]!r}, predicts {trace.token_labels[t + 1]!r}"
            else:  # a user's script that does not say its tokens
                values["position"] = str(t)
        if kind == "param":
            values["parameter"] = parameter_text(attrs)
        source = source_text(attrs)
        self._source = (attrs["file"], attrs["line"]) if source else None
        if source:
            values["source"] = f'<a href="#">{source}</a>'
        self._show_fields(self.node_fields, values)
        self._fill_links(trace, self.node)
        self.expand_button.hide()

    def show_group(self, trace, visible):
        """A box standing for many values (a scope, a vector, a folded sum)."""
        self.trace, self.node = trace, None
        self.title.setText(f"{visible.label}")
        self._show_role(None)
        values = {
            "group": visible.id,
            "kind": visible.kind,
            "values": f"{visible.count}",
            "largest |data|": number(visible.max_abs_data),
            "largest |grad|": number(visible.max_abs_grad),
        }
        if visible.pos >= 0:
            values["position"] = str(visible.pos)
        if visible.nonfinite:
            values["not finite"] = f"{visible.nonfinite} values are NaN or infinite"
        self._show_fields(self.group_fields, values)
        self._show_tables(False)
        self._group_id = visible.id if visible.expandable else None
        self.expand_button.setVisible(visible.expandable)
        self.expand_button.setText(f"Expand {visible.label}")

    # ---- internals ------------------------------------------------------------------
    def _show_role(self, text):
        self.role.setText(text or "")
        self.role.setVisible(bool(text))

    def _show_fields(self, shown, values):
        """Fill `shown` (node_fields, group_fields or None) with `values`; the other set hides."""
        for fields in (self.node_fields, self.group_fields):
            if fields is shown:
                fields.show_values(values)
            if fields.isHidden() == (fields is shown):
                fields.setVisible(fields is shown)

    def _show_tables(self, visible):
        for widget in (self.inputs_label, self.inputs, self.consumers_label, self.consumers, self.sum_label):
            widget.setVisible(visible)
        self._layout.setStretch(self._layout.count() - 1, 0 if visible else 1)

    def _fill_links(self, trace, node):
        self._show_tables(True)
        ins = inputs_of(trace, node)
        self.inputs_label.setText(f"Inputs ({len(ins)})" if ins else "Inputs: none (a leaf)")
        self._fill(self.inputs, [(link.node, [number(trace.data[link.node]), number(link.local_grad), number(link.contribution)]) for link in ins])
        outs = consumers_of(trace, node)
        self.consumers_label.setText(f"Consumers ({len(outs)})" if outs else "Consumers: none (the loss itself)")
        self._fill(self.consumers, [(link.node, [number(trace.grad[link.node]), number(link.local_grad), number(link.contribution)]) for link in outs])
        grad = float(trace.grad[node])
        if outs:
            total = math.fsum(link.contribution for link in outs)
            agree = "=" if math.isclose(total, grad, rel_tol=1e-9, abs_tol=1e-15) else "≠"
            self.sum_label.setText(
                f"Σ contributions = {number(total, 10)} {agree} grad {number(grad, 10)}"
                + ("" if len(outs) > 1 else "  (one consumer: its share is the whole grad)")
            )
        else:
            self.sum_label.setText("grad of the loss with respect to itself is 1" if trace.loss_node == node else "")

    def _fill(self, table, rows):
        table.setRowCount(len(rows))
        monospace = QFont("monospace")
        for r, (other, cells) in enumerate(rows):
            name = QTableWidgetItem(node_text(self.trace, other, relative_to=self.trace.scope[self.node]))
            name.setData(NODE_ROLE, other)
            name.setForeground(QColor(20, 70, 170))
            name.setToolTip(node_text(self.trace, other) + "\nclick to go to this node")
            table.setItem(r, 0, name)
            for c, text in enumerate(cells, start=1):
                item = QTableWidgetItem(text)
                item.setTextAlignment(NUMBER_ALIGNMENT)
                item.setFont(monospace)
                table.setItem(r, c, item)
        table.resizeRowsToContents()

    def _clicked(self, table, row):
        item = table.item(row, 0)
        if item is not None:
            self.nodeClicked.emit(int(item.data(NODE_ROLE)))
