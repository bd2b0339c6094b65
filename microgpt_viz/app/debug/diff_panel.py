"""Step diff: pin a step as A, move on, and see what changed in B (core/debug/diff.py).

Diffing reads both steps' wiring (most of a second for a new step): in the app it runs in
the debug panels' worker thread.
"""
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QCheckBox, QPushButton

from core.debug.diff import ShapeMismatch, diff
from microgpt_viz.app.debug.debug_panel import GAP, DebugPanel, failure_text
from microgpt_viz.session.labels import node_text, number

SHOWN_SCOPES = 30
EXPLANATION = ("Pin a step as A, train on, and compare: the same doc's graph node for node, "
               "the scopes that changed most and the first node where the two runs part.")
IDLE = "pin a step, take a few steps, and the same doc's change shows here"


class DiffPanel(DebugPanel):
    diffChanged = pyqtSignal(object)  # core.debug.diff.TraceDiff, or None
    recordRequested = pyqtSignal(str)  # please record this doc at the current parameters (set_b)
    builtInRequested = pyqtSignal(str, int)  # please pin the built-in model's step on this doc after this many updates (pin_trace)
    colourToggled = pyqtSignal(bool)  # "colour the graph by change" was switched

    def __init__(self, parent=None):
        super().__init__(EXPLANATION, parent)
        self.pinned = None
        self.recorded_b = None  # A's doc recorded at the current parameters, when asked for
        self.result = None
        self.pin = QPushButton("Pin this step as A")
        self.unpin = QPushButton("Unpin")
        self.record_b = QPushButton("Record A's doc now")
        self.record_b.setToolTip("record the pinned step's doc at the current parameters, so the two graphs line up")
        self.colour = QCheckBox("colour the graph by change")
        self.colour.setChecked(True)
        self.colour.setToolTip("while B is the step on screen, colour its boxes by B − A (Δ data; Δ grad in the colour menu)")
        self.pin_built_in = QPushButton("Pin microgpt as A")
        self.pin_built_in.setToolTip("with a script's step shown: record the built-in model (this window's data, preset and seed) "
                                     "on the same doc after as many updates, and pin it as A, to see where your version differs")
        self.add_row(self.pin, self.pin_built_in, self.unpin, self.record_b, GAP, self.colour)
        self.summary = self.add_status(IDLE)
        self.add_table(["where", "changed", "data change", "grad change"])
        self.pin.clicked.connect(self.pin_current)
        self.unpin.clicked.connect(self.clear)
        self.colour.toggled.connect(self.colourToggled)
        self.record_b.clicked.connect(lambda: self.pinned is not None and self.recordRequested.emit(self.pinned.doc))
        self.pin_built_in.clicked.connect(lambda: self._script_step() and self.builtInRequested.emit(self.trace.doc, self.trace.step))
        self.unpin.setEnabled(False)
        self.record_b.setEnabled(False)
        self.pin_built_in.setVisible(False)  # in Record A's doc's place while a script's step is shown

    def set_trace(self, trace):
        self.trace = trace
        self.recorded_b = None
        self.refresh()

    def set_b(self, trace):
        """B = this recording (of A's doc at the current parameters) instead of the shown step."""
        self.recorded_b = trace
        self.refresh()

    def pin_trace(self, trace):
        """A = this step (the built-in model's, recorded to compare a script's step with)."""
        self.pinned = trace
        self.unpin.setEnabled(True)
        self.refresh()

    def _script_step(self):
        """The shown step is a user script's on a doc the built-in model can record."""
        t = self.trace
        return t is not None and t.config is None and bool(t.doc) and bool(t.tokens)

    def pin_current(self):
        self.pinned = self.trace
        self.unpin.setEnabled(self.pinned is not None)
        self.refresh()

    def clear(self):
        self.pinned = None
        self.recorded_b = None
        self.unpin.setEnabled(False)
        self.refresh()

    def refresh(self):
        """Compare A with B; diffChanged reports the result (or None) once it is known."""
        self.result = None
        self.table.set_rows([])
        a, b = self.pinned, self.recorded_b if self.recorded_b is not None else self.trace
        # only the model's steps can be recorded again (a script's step ran in the script)
        self.record_b.setEnabled(a is not None and b is not None and b.doc != a.doc and a.config is not None)
        script_step = self._script_step()
        self.pin_built_in.setVisible(script_step)
        self.record_b.setVisible(not script_step)
        if a is None or b is None or a is b:
            self.background.cancel()
            self.summary.setText(IDLE if a is None or b is None else f"A = step {a.step} on {a.doc!r}; take steps to compare")
            self.diffChanged.emit(None)
            return
        self.summary.setText(f"comparing step {a.step} with step {b.step}…")
        self.background.run(lambda: diff(a, b), self._diffed, lambda error: self._failed(a, b, error))

    def _diffed(self, result):
        self.result = result
        self._show()
        self.diffChanged.emit(result)

    def _failed(self, a, b, error):
        if isinstance(error, ShapeMismatch):
            self.summary.setText(f"A = {_named(a)} on {a.doc!r}, B = {_named(b)} on {b.doc!r}: {error}")
        else:
            self.summary.setText(failure_text("the diff", error))
        self.diffChanged.emit(None)

    def _show(self):
        r, a, b = self.result, self.result.a, self.result.b
        self.summary.setText(
            f"A = {_named(a)}, B = {_named(b)} on {a.doc!r}: loss {number(a.loss)} → {number(b.loss)} "
            f"(Δ {r.loss_delta:+.4e}); data changed in {int(r.data_changed.sum())} nodes, grads in {int(r.grad_changed.sum())}"
        )
        rows = []
        for label, div in (("first data divergence", r.first_data_divergence), ("first grad divergence", r.first_grad_divergence)):
            if div is not None:
                rows.append(((f"{label}: {node_text(a, div.node)}", "", f"{number(div.a)} → {number(div.b)}", ""), div.node, "#a05a00"))
        for s in r.scopes[:SHOWN_SCOPES]:
            rows.append(((s.scope, f"{s.changed} of {s.nodes}", f"{s.data_change:.2e}", f"{s.grad_change:.2e}"), s.node, None))
        self.table.set_rows(rows)


def _named(trace):
    """'step 3', or 'the script's step 3' for a user script's."""
    return f"step {trace.step}" if trace.config is not None else f"the script's step {trace.step}"
