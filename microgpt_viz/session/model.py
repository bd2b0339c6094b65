"""What the app is looking at, as plain Python: no Qt here, so tests drive it without a window.

A Session holds the current Trace (a frozen snapshot of one step), the core View over it
(which token's loss cone, which groups are open, which scope is in focus), the selection,
the browser-like history, the loss history and the samples. Every user action is a method
that changes this state and then tells the subscribers what changed, by name:

    "trace"      a new step was recorded (all views refresh in place)
    "view"       expansion, focus or token changed (the graph re-renders)
    "selection"  another node is selected
    "losses"     the loss history grew or was reset
    "samples"    new generated names
    "colour"     the colouring mode changed (or the change it colours by)

The Trainer is not touched here: training runs in a worker thread (microgpt_viz/app/training.py),
which hands over plain results through `apply_advance`.
"""
from dataclasses import dataclass

import numpy as np

from core.views.navigate import consumers_of, enclosing_scope_that_fits, inputs_of, same_value
from core.views.view import View
from microgpt_viz.session import trace_memory
from microgpt_viz.session.history import History, Location

CHANGE_MODES = ("Δ data", "Δ grad")  # colour by a Change: only while one is shown
PLAIN_MODES = ("grad", "|grad|", "data")
COLOUR_MODES = PLAIN_MODES + CHANGE_MODES


@dataclass(frozen=True, eq=False)
class Change:
    """Per-node deltas to colour the graph by: a what-if edit or a step diff of the shown step."""

    source: str  # "what-if" or "step diff": who made it (and who may take it back)
    description: str  # one line for the legend: what changed, e.g. "what-if: wte[3][1] = 0.75"
    trace: object  # the Trace the deltas belong to (node ids index the arrays)
    data_delta: np.ndarray  # per node id: new data - shown data (NaN where either is NaN)
    grad_delta: np.ndarray  # per node id: new grad - shown grad

    def delta(self, mode):
        return self.data_delta if mode == "Δ data" else self.grad_delta


@dataclass(frozen=True)
class Selection:
    visible: object = None  # id of the selected box in the graph view, None if not shown there
    node: object = None  # scalar node id when a single value (or a folded sum's total) is selected


def scalar_of(visible_id):
    """The scalar node id behind a visible id `n123` / `s123`, else None."""
    if visible_id and visible_id[0] in "ns" and visible_id[1:].isdigit():
        return int(visible_id[1:])
    return None


def _moved_to_position(group_id, old, new):
    """`pos2/layer0/attn` -> `pos3/layer0/attn` when the token changes from 2 to 3."""
    if old is None or new is None:
        return group_id
    prefix = f"pos{old}"
    if group_id == prefix or group_id.startswith(prefix + "/"):
        return f"pos{new}" + group_id[len(prefix):]
    return group_id


def _apply_choices(view, opened, closed):
    """Open `opened` and close `closed` in `view`, skipping groups the view's step does not have."""
    for change, groups in ((view.expand, opened), (view.collapse, closed)):
        for group in groups:
            try:
                change(group)
            except ValueError:
                pass  # that group does not exist in this step


class Session:
    def __init__(self, trainer=None):
        self.trainer = trainer  # core.engine.train.Trainer; only the worker thread runs it
        self.trace = None  # the recorded step on screen (core.trace.record.Trace)
        self.view = None  # core.views.view.View over self.trace
        self.position = None  # token position whose loss cone is shown; None = the whole step
        self.selection = Selection()
        self.colour_by = "grad"
        self.change = None  # a Change the graph can be coloured by, or None
        self._plain_colour = "grad"  # the colouring to go back to when the change goes
        self.losses = []  # loss of every update taken so far
        # The trainer's step count as the worker last reported it (Advance.step_index): the one
        # number the status, the training dock and the loss curve show. The Trace on screen may be
        # of an earlier step when the next one could not be recorded (a divergence, the plan's end).
        self.step_index = 0
        self.planned_steps = 0
        self.samples = []  # names generated at the current parameters
        self.history = History()
        self._subscribers = []
        # Groups the user opened themselves (double-click, expand), as ids in the current token's
        # cone. Only these outlive a Step or a token switch: what search jumps, click-through and
        # the overview open is for the moment, and kept, it piles up step after step (48 open
        # groups and 3,800 boxes after 60 Steps of a long session). Groups the level opens but the
        # user closed stay closed alike.
        self._opened_by_user = set()
        self._closed_by_user = set()

    # ---- notification ---------------------------------------------------------------
    def subscribe(self, callback):
        """callback(change_name) after every change; see the module docstring for the names."""
        self._subscribers.append(callback)

    def _notify(self, *changes):
        for change in changes:
            for callback in list(self._subscribers):
                callback(change)

    # ---- steps ----------------------------------------------------------------------
    def set_trace(self, trace):
        """Show another recorded step, keeping token, expansion, focus and selection where they apply."""
        self._drop_stale_change(trace)
        old, self.trace = self.trace, trace
        if trace is None:
            self.view = None
            self.selection = Selection()
            trace_memory.release(old)
            self._notify("trace", "view", "selection")
            return
        if self.position is not None and self.position >= trace.positions:
            self.position = trace.positions - 1
        if old is not None and old is not trace:
            self._follow_selected_value(old, trace)
        if self.view is None:
            self.view = self._new_view(trace, self.position)
            self.selection = self._root_selection()  # start from the loss being explained
        else:
            self.view.rebind(trace)
            self.position = self.view.token
            self._keep_only_what_the_user_opened(self.view)
        self._revalidate_selection()
        if self.history.current is None:
            self.history.visit(self.location())
        if old is not None and old is not trace:
            trace_memory.release(old)
        self._notify("trace", "view", "selection")

    def apply_advance(self, advance):
        """Take in what the worker produced: the losses of the updates and the next recorded step."""
        self.losses.extend(advance.losses)
        self.step_index, self.planned_steps = advance.step_index, advance.planned_steps
        self._notify("losses")
        if advance.trace is not None:
            self.set_trace(advance.trace)

    def reset_training(self, trace=None, losses=(), planned_steps=None):
        """After the trainer was reset, replaced or rewound: its whole loss history, its next step."""
        self.losses = list(losses)
        self.step_index = len(self.losses)
        if planned_steps is not None:
            self.planned_steps = planned_steps
        self.samples = []
        self._notify("losses", "samples")
        if trace is not None:
            self.set_trace(trace)

    def replace_trace(self, trace, position=None, release_old=True):
        """Show an unrelated step (a user's script, or training again after one): a fresh view,
        selection and history. release_old=False when the caller keeps the old Trace to come back to."""
        self._drop_stale_change(trace)
        old, self.trace = self.trace, trace
        self.position = position if position is not None and 0 <= position < trace.positions else None
        self.view = self._new_view(trace, self.position)
        self._opened_by_user, self._closed_by_user = set(), set()
        self.selection = self._root_selection()
        self.history = History()
        self.history.visit(self.location())
        if release_old and old is not None and old is not trace:
            trace_memory.release(old)
        self._notify("trace", "view", "selection")

    def set_samples(self, names):
        self.samples = list(names)
        self._notify("samples")

    @staticmethod
    def _new_view(trace, position, level="module"):
        return View.for_token(trace, position, level=level) if position is not None else View(trace, level=level)

    def _follow_selected_value(self, old, trace):
        """A selected value stays selected in the next step as the value playing its part there
        (core.views.navigate.same_value), not as whatever value has its node id."""
        sel = self.selection
        if sel.node is None:
            return
        node = same_value(old, sel.node, trace)
        if node is None:
            self.selection = Selection()
            return
        alone = scalar_of(sel.visible) == sel.node
        self.selection = Selection(visible=f"{sel.visible[0]}{node}" if alone else sel.visible, node=node)

    def _keep_only_what_the_user_opened(self, view):
        """Open in `view` what its level opens and what the user opened (closing what the user closed),
        and close what navigation opened; the value selected on its own box stays on its own box,
        so a Step does not move it."""
        sel = self.selection
        selected_alone = sel.node is not None and scalar_of(sel.visible) == sel.node
        view.set_level(view.level or "module")
        _apply_choices(view, self._opened_by_user, self._closed_by_user)
        if selected_alone and sel.node < self.trace.num_nodes:
            try:
                view.reveal(sel.node)
            except ValueError:
                pass  # not in this step's view: the selection check that follows drops it

    # ---- navigation -----------------------------------------------------------------
    def location(self):
        sel = self.selection
        node = sel.visible if sel.node is None else ("n", sel.node)
        focus = (self.view.scope or "") if self.view is not None else ""
        return Location(position=self.position, node=node, focus=focus)

    def _visit(self):
        self.history.visit(self.location())

    def select_position(self, position, remember=True):
        """Show position t's loss cone (None: the whole step's loss); keeps the open groups of the old token."""
        if self.trace is None or position == self.position:
            return
        if position is not None and not 0 <= position < self.trace.positions:
            raise ValueError(f"token position {position} is out of range (0 to {self.trace.positions - 1})")
        old_position, old_view = self.position, self.view
        view = self._new_view(self.trace, position, (old_view.level if old_view is not None else None) or "module")
        self._opened_by_user = {_moved_to_position(group, old_position, position) for group in self._opened_by_user}
        self._closed_by_user = {_moved_to_position(group, old_position, position) for group in self._closed_by_user}
        _apply_choices(view, self._opened_by_user, self._closed_by_user)
        self.view, self.position = view, position
        self.selection = self._root_selection()
        if remember:
            self._visit()
        self._notify("view", "selection")

    def select(self, visible_id, remember=True):
        """Select a box of the graph view (None clears the selection)."""
        if visible_id is None:
            self.selection = Selection()
        else:
            if not self.view.shows(visible_id):
                raise KeyError(visible_id)  # not on screen
            self.selection = Selection(visible=visible_id, node=scalar_of(visible_id))
        if remember:
            self._visit()
        self._notify("selection")

    def select_node(self, node, remember=True):
        """Select one scalar node, opening the groups that hide it ("clicking through").

        A node outside the shown cone (a consumer in a later position, say) switches the
        graph to its own position's cone, else to the whole step; a hidden constant is
        selected without a box in the graph.
        """
        node = int(node)
        if not 0 <= node < self.trace.num_nodes:
            raise ValueError(f"node {node} does not exist (the step has {self.trace.num_nodes} nodes)")
        visible = self._reveal(node)
        filtered = self._hidden_by_filters(node)
        if visible is None and not filtered and self.view.scope is not None:
            self.view.focus(None)  # the node lies outside the focused scope
            visible = self._reveal(node)
        home = int(self.trace.pos[node])
        if visible is None and not filtered and home >= 0 and home != self.position:
            self.select_position(home, remember=False)  # the node's own token's cone holds it
            visible = self._reveal(node)
        if visible is None and not filtered and self.position is not None:
            self.select_position(None, remember=False)
            visible = self._reveal(node)
        self.selection = Selection(visible=visible, node=node)
        if remember:
            self._visit()
        self._notify("view", "selection")

    def _root_selection(self):
        """The loss the view explains (loss_t of the token, or the step's mean loss), selected."""
        t = self.trace
        root = t.loss_node if self.position is None else t.position_loss_nodes[self.position]
        return Selection(visible=self.view.visible_id(root), node=root)

    def _hidden_by_filters(self, node):
        kind, filters = self.trace.kind[node], self.view.filters
        return (kind == "const" and filters.hide_constants) or (kind == "param" and filters.hide_params)

    def _reveal(self, node):
        visible = self.view.visible_id(node)
        if visible is not None and scalar_of(visible) == node:
            return visible
        try:
            self.view.reveal(node)
        except ValueError:
            return None
        return self.view.visible_id(node)

    def toggle(self, group_id, remember=False):
        """Expand a collapsed group or collapse an open one (double-click in the graph)."""
        self.view.toggle(group_id)
        self._remember_choice(group_id, group_id in self.view.expanded)
        self._revalidate_selection()
        if remember:
            self._visit()
        self._notify("view", "selection")

    def expand(self, group_id):
        self.view.expand(group_id)
        self._remember_choice(group_id, True)
        self._notify("view")

    def collapse(self, group_id):
        self.view.collapse(group_id)
        self._remember_choice(group_id, False)
        self._revalidate_selection()
        self._notify("view", "selection")

    def _remember_choice(self, group_id, is_open):
        (self._opened_by_user if is_open else self._closed_by_user).add(group_id)
        (self._closed_by_user if is_open else self._opened_by_user).discard(group_id)

    def focus(self, scope_path, remember=True):
        """Zoom the graph into one scope (the breadcrumb); None or '' shows the whole cone."""
        self.view.focus(scope_path or None)
        self._revalidate_selection()
        if remember:
            self._visit()
        self._notify("view", "selection")

    def set_level(self, level, limit=None):
        """Open every group down to a level of detail: module, vector or scalar.

        With `limit` (boxes the graph can lay out): when the view grows past it and something is
        selected, focus the widest scope around the selection that fits, so a fine level opens
        around what is being looked at instead of as a picture too big to draw. Returns that scope,
        or None when the focus was left alone.
        """
        self.view.set_level(level)
        self._opened_by_user, self._closed_by_user = set(), set()  # the level decides every group afresh
        focused = None
        if limit is not None and len(self.view.render().nodes) > limit:
            scope = self._selected_scope()
            focused = enclosing_scope_that_fits(self.view, scope, limit) if scope else None
            if focused is not None:
                self.view.focus(focused)
        self._revalidate_selection()
        self._notify("view", "selection")
        return focused

    def _selected_scope(self):
        """The scope path of what is selected: a value's scope, or a scope box / vector box's scope."""
        sel = self.selection
        if sel.node is not None:
            return self.trace.scope[sel.node]
        if sel.visible is not None and scalar_of(sel.visible) is None:
            return sel.visible.split("#")[0]  # a vector's id is `scope#op@depth`
        return None

    def set_colour_by(self, mode):
        if mode not in COLOUR_MODES:
            raise ValueError(f"unknown colouring {mode!r} (choose from {', '.join(COLOUR_MODES)})")
        if mode in CHANGE_MODES and self.change is None:
            raise ValueError(f"{mode} colours by a change: make a what-if edit or a step diff first")
        self.colour_by = mode
        if mode in PLAIN_MODES:
            self._plain_colour = mode
        self._notify("colour")

    @property
    def plain_colour(self):
        """The colouring by the step's own numbers that is (or was, before a change) chosen."""
        return self._plain_colour

    def show_change(self, change):
        """Colour the graph by a Change (switching to Δ data unless a Δ mode is on already)."""
        if change.trace is not self.trace:
            raise ValueError("the change belongs to another step than the one shown")
        self.change = change
        if self.colour_by not in CHANGE_MODES:
            self.colour_by = "Δ data"
        self._notify("colour")

    def clear_change(self, source=None):
        """Forget the change (only if it came from `source`, when given) and go back to the plain colouring."""
        if self.change is None or (source is not None and self.change.source != source):
            return
        self.change = None
        if self.colour_by in CHANGE_MODES:
            self.colour_by = self._plain_colour
        self._notify("colour")

    def _drop_stale_change(self, trace):
        if self.change is not None and self.change.trace is not trace:
            self.clear_change()

    def back(self):
        if self.history.can_back():
            self._go(self.history.back())

    def forward(self):
        if self.history.can_forward():
            self._go(self.history.forward())

    def _go(self, location):
        if location.position != self.position:
            self.select_position(location.position, remember=False)
        if (self.view.scope or "") != location.focus:
            try:
                self.view.focus(location.focus or None)
            except ValueError:
                self.view.focus(None)
        node = location.node
        if isinstance(node, tuple):
            self.select_node(node[1], remember=False)
        elif node is not None and self.view.shows(node):
            self.select(node, remember=False)
        else:
            self.selection = Selection()
        self._notify("view", "selection")

    # ---- queries for the widgets ----------------------------------------------------
    # The session never renders on its own: what it asks of the view (what a node is shown as, is
    # a box shown) the view answers without rendering, and the window renders in a worker thread.
    def rendered(self):
        return self.view.render() if self.view is not None else None

    def rendered_if_ready(self):
        """The picture of the current view if it is made already, else None (never renders)."""
        return self.view.rendered if self.view is not None else None

    def adopt_render(self, snapshot, rendered):
        """Take a picture a snapshot of the view (view.snapshot()) rendered elsewhere; returns the
        current view's picture, or None when the view changed since the snapshot."""
        return self.view.adopt(snapshot, rendered) if self.view is not None else None

    def _revalidate_selection(self):
        """After the view or the trace changed: keep the selection where it still means something."""
        sel = self.selection
        if self.trace is None or (sel.visible is None and sel.node is None):
            return
        if sel.node is not None:
            if sel.node >= self.trace.num_nodes:
                self.selection = Selection()
                return
            # a value folded into a closed group keeps that group highlighted
            self.selection = Selection(visible=self.view.visible_id(sel.node), node=sel.node)
            return
        if not self.view.shows(sel.visible):
            self.selection = Selection()

    def inputs(self, node):
        return inputs_of(self.trace, node)

    def consumers(self, node):
        return consumers_of(self.trace, node)
