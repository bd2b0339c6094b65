"""A view of a Trace: the part of the step's graph a person looks at, collapsed into groups.

A recorded step has 35k-140k scalar nodes; nobody reads that, and Graphviz cannot lay it
out. A View picks root nodes (a token's loss `loss_t`, or the whole step's loss), takes
everything they were computed from (their "cone"; for t > 0 it reaches back into the keys
and values of earlier positions: causal attention made visible), and shows it through
nested groups that open on demand:

    scope groups   pos2 > layer0 > attn > head2 > softmax    (from the model's scope paths)
    vectors        `q: 16 × sum(16)`: the values of one scope made by one op at one depth
    sums           `sum(16)`: the chain 0 + a + b + ... made by Python's sum()
    values         single scalars (op, data, grad)

API used by the app and the exporter (kept stable):
    Filters(hide_constants=True, hide_params=False, fold_sums=True)
    View(trace, roots=None, level="module", filters=None); View.for_token(trace, t, ...)
    view.expand(id) / collapse(id) / toggle(id) / expand_to_depth(n) / focus(scope_path)
    view.expanded (frozenset of group ids), view.rebind(trace), view.reveal(node) -> visible id
    view.render() -> Rendered(nodes=[VisibleNode], edges=[VisibleEdge], clusters=[Cluster], shape_key, focus,
                              visible_id(scalar) -> visible node id, node(visible id) -> VisibleNode)
    view.visible_id(scalar) / view.shows(visible id): what render() would say, without rendering
    view.snapshot() -> a copy to render in another thread; view.adopt(snapshot, rendered) takes its picture back
    view.parent_group(visible id) -> id of the open group around it (collapse it to fold it away)
    (search(trace, query) lives in core/views/search.py; inputs_of, consumers_of, path_between and
    neighbourhood in core/views/navigate.py.)

Ids of visible nodes: a scope path for a scope group (`pos2/layer0/attn`), `scope#op@depth`
for a vector, `s<node>` for a folded sum (named after the node holding the total), `n<node>`
for a single value. Scope and vector ids mean the same thing in every step; `s`/`n` ids are
node ids, equal across steps only where the two graphs number their nodes alike.
"""
from dataclasses import dataclass

import numpy as np

from core.views.rendered import hands_on, render_view
from core.trace.index import SCOPE, SUM, index_of
from core.trace.per_trace import per_trace

LEVELS = ("module", "vector", "scalar")


def _no_cones_yet(trace):
    return {}


# roots -> (cone mask, its group numbers or None until asked): a cone of a million-Value step
# takes a few tenths of a second, and every click on a token makes a View of that token's cone
_cones = per_trace(_no_cones_yet)


@dataclass(frozen=True)
class Filters:
    hide_constants: bool = True  # constants vanish; a consumer's label shows them (`* 0.5`)
    hide_params: bool = False  # parameters vanish with their edges
    fold_sums: bool = True  # a `0 + a + b + ...` chain shows as one `sum(n)` until expanded


class View:
    _version = 0  # counts changes: a snapshot's picture is adopted only by the state it was taken from

    def __init__(self, trace, roots=None, level="module", filters=None):
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r} (choose from {', '.join(LEVELS)})")
        self.filters = filters or Filters()
        self.token = None  # position whose loss is the root, when made by for_token
        self._explicit_roots = None if roots is None else tuple(int(r) for r in np.atleast_1d(roots))
        self.scope = None  # focused scope path, or None for the whole cone
        self._bind(trace)
        self.set_level(level)

    @classmethod
    def for_token(cls, trace, t, level="module", filters=None):
        """The cone of loss_t: everything position t's loss was computed from."""
        check_token(trace, t)
        view = cls(trace, roots=[trace.position_loss_nodes[t]], level=level, filters=filters)
        view.token = t
        view._explicit_roots = None
        return view

    # ---- state ----------------------------------------------------------------------
    @property
    def roots(self):
        if self.token is not None:
            return (self.trace.position_loss_nodes[self.token],)
        if self._explicit_roots is not None:
            return self._explicit_roots
        return (self.trace.loss_node,)

    @property
    def expanded(self):
        return frozenset(self._expanded)

    @property
    def level(self):
        return self._level

    def set_level(self, level):
        """Expand groups the way a level of detail asks: module, vector or scalar."""
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r} (choose from {', '.join(LEVELS)})")
        self._level = level
        ix, present = self._index, self._present_groups()
        kind = ix.group_kind[present]
        if level == "module":
            keep = (kind == SCOPE) & ix.scope_has_child_scope[present]
        elif level == "vector":
            # a scope without subgroups is one vector already (a parameter matrix, a residual)
            keep = (kind == SCOPE) & ix.group_has_children[present]
        else:
            keep = kind != SUM if self.filters.fold_sums else np.ones(len(present), dtype=bool)
        self._expanded = {ix.groups[g].id for g in present[keep]}
        self._changed()
        return self

    def expand_to_depth(self, n):
        """Expand every group less than n levels below the top (or below the focused scope).

        Depth counts scope groups; vectors, sums and parameter matrices stay closed (expand
        them by name), since each opens into a flat run of values.
        """
        if n < 0:
            raise ValueError(f"depth must be >= 0, got {n}")
        ix, present = self._index, self._present_groups()
        base = 0
        if self.scope is not None:
            base = ix.groups[ix.group_number[self.scope]].depth + 1
        # only scopes open: a vector opened by depth alone floods the view with its values
        keep = (ix.group_depth[present] < base + n) & (ix.group_kind[present] == SCOPE)
        # a parameter matrix opens into thousands of loose values: only on explicit request
        keep &= np.array([not ix.groups[g].id.startswith("params/") for g in present], dtype=bool)
        self._expanded = {ix.groups[g].id for g in present[keep]}
        self._level = None
        self._changed()
        return self

    def expand(self, group_id):
        self._check_group(group_id)
        self._expanded.add(group_id)
        self._changed()
        return self

    def collapse(self, group_id):
        self._check_group(group_id)
        self._expanded.discard(group_id)
        self._changed()
        return self

    def toggle(self, group_id):
        self._check_group(group_id)
        if group_id in self._expanded:
            self._expanded.discard(group_id)
        else:
            self._expanded.add(group_id)
        self._changed()
        return self

    def focus(self, scope_path):
        """Show only what lies under scope_path (plus the values feeding into it); None = everything."""
        if scope_path in (None, ""):
            self.scope = None
            self._changed()
            return self
        scope_path = scope_path.strip("/")
        number = self._index.group_number.get(scope_path)
        if number is None or self._index.group_kind[number] != SCOPE:
            raise ValueError(f"unknown scope {scope_path!r}{_suggest(self._index, scope_path)}")
        inside = self._members_of_scope(number) & self._cone
        if not inside.any():
            raise ValueError(f"scope {scope_path!r} has no values in this view's cone")
        self.scope = scope_path
        self._changed()
        return self

    def reveal(self, node_id):
        """Expand what hides scalar node_id; returns the id it is now visible as."""
        node_id = int(node_id)
        ix = self._index
        if not 0 <= node_id < ix.n:
            raise ValueError(f"node {node_id} does not exist (the step has {ix.n} nodes)")
        if not self._node_mask()[node_id]:
            kind = ix.kind[node_id]
            if kind == "const" and self.filters.hide_constants:
                raise ValueError(f"node {node_id} is a constant, hidden by the hide_constants filter")
            if kind == "param" and self.filters.hide_params:
                raise ValueError(f"node {node_id} is a parameter, hidden by the hide_params filter")
            raise ValueError(f"node {node_id} is outside this view")
        for g in ix.paths[node_id]:
            if g >= 0:
                self._expanded.add(ix.groups[g].id)
        self._changed()
        return f"n{node_id}"

    def parent_group(self, visible_id):
        """Id of the group that holds a visible node (collapse it to fold the node away), or None."""
        ix = self._index
        if visible_id.startswith("n") and visible_id[1:].isdigit():
            g = ix.innermost[int(visible_id[1:])]
            if not self._group_is_open(g):
                return None
            return ix.groups[g].id
        number = ix.group_number.get(visible_id)
        if number is None:
            return None
        parent = ix.group_parent[number]
        return None if parent < 0 else ix.groups[parent].id

    def rebind(self, trace):
        """The same roots, focus and expansion on another Trace (e.g. the next training step)."""
        old_expanded = self._expanded
        if self.token is not None and self.token >= trace.positions:
            self.token = trace.positions - 1
        if self._explicit_roots is not None and max(self._explicit_roots) >= trace.num_nodes:
            self._explicit_roots = None
        self._bind(trace)
        ix = self._index
        self._expanded = {g for g in old_expanded if g in ix.group_number}
        if self.scope is not None:
            number = ix.group_number.get(self.scope)
            if number is None or not (self._members_of_scope(number) & self._cone).any():
                self.scope = None
        self._changed()
        return self

    # ---- rendering --------------------------------------------------------------------
    def render(self):
        if self._rendered is None:
            self._rendered = render_view(self)
        return self._rendered

    @property
    def rendered(self):
        """The picture of the current state if it is made already, else None (render() makes it)."""
        return self._rendered

    def visible_id(self, node_id):
        """The id render() shows scalar node_id as (None: not shown), without rendering: on a
        million-Value step a render takes a few tenths of a second, this a few milliseconds."""
        if self._rendered is not None:
            return self._rendered.visible_id(node_id)
        node_id = int(node_id)
        ix = self._index
        if not 0 <= node_id < ix.n or not self._node_mask()[node_id]:
            return None
        opened = self._open_numbers()
        for g in ix.paths[node_id].tolist():  # outermost first: the first closed group hides the node
            if g < 0:
                break
            if g not in opened:
                return ix.groups[g].id
        return f"n{node_id}"

    def shows(self, visible_id):
        """True when render() has a node with this id, found without rendering."""
        if self._rendered is not None:
            return self._rendered.shows(visible_id)
        ix = self._index
        g = ix.group_number.get(visible_id)
        if g is None:
            digits = visible_id[1:]
            return visible_id[:1] == "n" and digits.isdigit() and self.visible_id(int(digits)) == visible_id
        opened = self._open_numbers()
        if g in opened:
            return False
        parent = int(ix.group_parent[g])
        while parent >= 0:
            if parent not in opened:
                return False
            parent = int(ix.group_parent[parent])
        return bool((self._node_mask() & (ix.paths[:, ix.groups[g].depth] == g)).any())

    def snapshot(self):
        """A copy of this view as it is now, to render in another thread while this one goes on
        changing (the Trace and the index it reads are never written)."""
        copy = object.__new__(View)
        copy.__dict__.update(self.__dict__)
        copy._expanded = set(self._expanded)
        return copy

    def adopt(self, snapshot, rendered):
        """Take the picture a snapshot of this view rendered, if the view has not changed since.
        Returns the picture the view now holds (a render made here meanwhile is kept), or None."""
        if snapshot._version != self._version or snapshot.trace is not self.trace:
            return None
        if self._rendered is None:
            self._rendered = rendered
            self._mask = snapshot._mask if self._mask is None else self._mask
        return self._rendered

    # ---- internals --------------------------------------------------------------------
    def _bind(self, trace):
        self.trace = trace
        self._index = index_of(trace)
        self._cone_key = tuple(int(r) for r in self.roots)
        cones = _cones(trace)
        if self._cone_key not in cones:
            cone = self._index.ancestors(self._cone_key)
            cone.setflags(write=False)  # shared by every View of these roots
            cones[self._cone_key] = (cone, None)
        self._cone = cones[self._cone_key][0]
        self._expanded = getattr(self, "_expanded", set())
        self._changed()

    def _changed(self):
        self._rendered = None
        self._mask = None
        self._opened = None
        self._version += 1

    def _open_numbers(self):
        """Numbers of the groups render() treats as open: expanded, unfolded sums, the focused scope
        and the groups around it."""
        if self._opened is None:
            ix = self._index
            opened = {ix.group_number[g] for g in self._expanded}
            if not self.filters.fold_sums:
                opened.update(np.flatnonzero(ix.group_kind == SUM).tolist())
            if self.scope is not None:
                g = ix.group_number[self.scope]
                while g >= 0:
                    opened.add(g)
                    g = int(ix.group_parent[g])
            self._opened = opened
        return self._opened

    def _check_group(self, group_id):
        if group_id not in self._index.group_number:
            raise ValueError(f"no group {group_id!r} in this step")

    def _group_is_open(self, g):
        ix = self._index
        while g >= 0:
            if not self._is_open(g):
                return False
            g = ix.group_parent[g]
        return True

    def _is_open(self, g):
        group = self._index.groups[g]
        if group.kind == SUM and not self.filters.fold_sums:
            return True
        return group.id in self._expanded or self._forced_open(g)

    def _forced_open(self, g):
        """Groups enclosing the focused scope are always open: closed, they would be the whole view."""
        if self.scope is None:
            return False
        group = self._index.groups[g]
        return group.kind == SCOPE and (self.scope == group.id or self.scope.startswith(group.id + "/"))

    def _members_of_scope(self, number):
        ix = self._index
        depth = ix.groups[number].depth
        return ix.paths[:, depth] == number

    def _node_mask(self):
        """Scalar nodes this view shows (before grouping)."""
        if self._mask is None:
            ix, f = self._index, self.filters
            mask = self._cone.copy()
            if self.scope is not None:
                inside = mask & self._members_of_scope(ix.group_number[self.scope])
                # the values feeding into the scope from outside, so its inputs are seen
                edges = np.flatnonzero(inside[ix.dst] & ~inside[ix.src])
                mask = inside.copy()
                mask[ix.src[edges]] = True
            if f.hide_constants:
                mask &= ~ix.is_const
            if f.hide_params:
                mask &= ~ix.is_param
            self._mask = mask
        return self._mask

    def _present_groups(self):
        """Group numbers that hold at least one node of the cone."""
        cones = _cones(self.trace)
        cone, groups = cones.get(self._cone_key, (self._cone, None))
        if groups is None:
            groups = np.unique(self._index.paths[self._cone])
            groups = groups[groups >= 0]
            groups.setflags(write=False)
            cones[self._cone_key] = (cone, groups)
        return groups


def prepare(trace, positions=()):
    """Build what the first views of a step need (its index, the whole step's cone, the cones of
    `positions`' losses, what each scope box hands on) ahead of time, e.g. in the worker that
    recorded it: on a million-Value step that is a few seconds the GUI thread would otherwise
    spend on the first click."""
    View(trace)
    for t in positions:
        if 0 <= t < trace.positions:
            View.for_token(trace, t)
    hands_on(trace)


def check_token(trace, t):
    if trace.positions == 0:  # a script's step whose loss is not a mean over positions
        raise ValueError("this step has no token positions: its loss is not a mean of per-position losses")
    if not isinstance(t, (int, np.integer)) or not 0 <= t < trace.positions:
        raise ValueError(
            f"token position {t} is out of range: {trace.doc!r} has positions 0 to {trace.positions - 1}"
        )


def _suggest(index, path):
    close = [g.id for g in index.groups if g.kind == SCOPE and path in g.id][:3]
    return f" (did you mean {', '.join(close)}?)" if close else ""
