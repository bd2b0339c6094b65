"""Colouring the graph by what a what-if edit or a step diff changes.

A what-if edit (the What-if dock) or a step diff whose B is the step on screen (the Step
diff dock, "colour the graph by change") hands the Session a Change; the graph switches to
Δ data (Δ grad is in the colour menu) and the legend names the change. Undo, unpinning, or
a new step takes it back and the colouring chosen before returns.
"""
from microgpt_viz.session.labels import node_text, number
from microgpt_viz.session.model import Change

WHAT_IF, STEP_DIFF = "what-if", "step diff"


class ChangeColouring:
    def __init__(self, window):
        self.window = window
        panels = window.debug_panels
        self.whatif, self.diff = panels.whatif, panels.diff
        self.whatif.resultChanged.connect(self._what_if)
        self.diff.diffChanged.connect(self._diffed)
        self.diff.colourToggled.connect(lambda _: self._diffed(self.diff.result))

    def _what_if(self, result):
        session = self.window.session
        trace = self.whatif.trace
        if result is None or trace is not session.trace:
            session.clear_change(WHAT_IF)
            return
        edits = ", ".join(f"{node_text(trace, node)} = {number(value)}" for node, value in result.edits.items())
        description = f"the what-if {edits}: loss {number(result.loss_before)} → {number(result.loss_after)}"
        session.show_change(Change(WHAT_IF, description, trace, result.data_delta, result.grad_delta))

    def _diffed(self, result):
        session = self.window.session
        if result is None or not self.diff.colour.isChecked() or result.b is not session.trace:
            session.clear_change(STEP_DIFF)
            return
        a, b = result.a, result.b
        description = (f"the step diff, step {b.step} against pinned step {a.step} on {a.doc!r}: "
                       f"loss {number(a.loss)} → {number(b.loss)}")
        session.show_change(Change(STEP_DIFF, description, b, result.data_delta, result.grad_delta))


def install(window):
    window.change_colouring = ChangeColouring(window)
    return window.change_colouring
