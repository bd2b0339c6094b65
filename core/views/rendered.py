"""Rendering a View: the visible nodes (groups, vectors, values) and the edges between them.

Given which scalar nodes a view shows and which groups are open, every shown node is
assigned the outermost closed group on its path (or itself), with one vectorised lookup
over the trace index's path matrix; edges are then counted per pair of visible nodes.
"""
from dataclasses import dataclass, field

import numpy as np

from core.trace.index import SCOPE, SUM, VECTOR, index_of
from core.trace.per_trace import per_trace


@dataclass(eq=False)
class VisibleNode:
    id: str  # see the module docstring for the id scheme
    kind: str  # "group" (a scope), "vector", or "value" (a scalar or a folded sum)
    label: str  # short text for the box: `softmax`, `q: 16 × sum`, `* 0.5`, `sum(16)`, `wte[4][3]`
    scope: str  # scope path the node lies in
    members: np.ndarray  # scalar node ids it stands for (inside this view's cone and filters)
    count: int  # len(members)
    expandable: bool  # True for groups, vectors and folded sums
    pos: int  # token position of its members, -1 when mixed or none
    op: str = None  # values: the op (`+ * **-1 exp log relu param const`, `sum` for a folded sum)
    node: int = -1  # values: the scalar node id (for a folded sum: the node holding the total)
    data: float = None  # values: the value
    grad: float = None  # values: d loss / d value
    max_abs_grad: float = 0.0  # largest |grad| among the members
    max_abs_data: float = 0.0  # largest |data| among the members
    nonfinite: int = 0  # members whose data or grad is NaN or infinite
    parent: str = None  # id of the open group drawn around it (a Cluster), None at the top
    ops: int = 0  # members made by an op (neither a parameter nor a constant)
    outputs: int = 0  # groups of one scope with no scopes inside: members whose value leaves the scope (its vector's length)


@dataclass(eq=False)
class VisibleEdge:
    source: str  # visible node id of the inputs
    target: str  # visible node id of the consumers
    count: int  # scalar edges it stands for (an x * x counts twice)
    local_grad: float = None  # d target / d source when it stands for a single scalar edge


@dataclass(frozen=True)
class Cluster:
    id: str  # id of an open group (expanded, or enclosing the focused scope)
    label: str  # its short name, as on the box it had when closed
    parent: str  # id of the open group around it, None at the top
    kind: str  # "group", "vector" or "value" (an expanded sum)


@dataclass(eq=False)
class Rendered:
    nodes: list  # VisibleNode, in the order of their first member (inputs before consumers, mostly)
    edges: list  # VisibleEdge, one per connected pair of visible nodes
    clusters: list  # Cluster: the open groups holding visible nodes, outer ones first
    shape_key: tuple  # hashable; equal when two renders have the same nodes and edges
    focus: str = None  # the focused scope path; clusters of the groups around it add nothing
    trace: object = field(repr=False, default=None)
    _code: np.ndarray = field(repr=False, default=None)  # per scalar: index into nodes, -1 if not shown
    _by_id: dict = field(repr=False, default=None)

    def visible_id(self, node_id):
        """Id of the visible node that contains scalar node `node_id`, or None if it is not shown."""
        node_id = int(node_id)
        if not 0 <= node_id < len(self._code) or self._code[node_id] < 0:
            return None
        return self.nodes[self._code[node_id]].id

    def shows(self, visible_id):
        """True when a node with this id is in the picture."""
        return visible_id in self._by_id

    def node(self, visible_id):
        """The VisibleNode with that id (KeyError if absent)."""
        return self.nodes[self._by_id[visible_id]]

    def __len__(self):
        return len(self.nodes)


def render_view(view):
    """The Rendered picture of a core.views.view.View in its current state."""
    ix, trace = view._index, view.trace
    mask = view._node_mask()
    shown = np.flatnonzero(mask)
    n_groups = len(ix.groups)
    open_mask = np.zeros(n_groups + 1, dtype=bool)  # the extra slot stands for "-1" (no group)
    for gid in view._expanded:
        open_mask[ix.group_number[gid]] = True
    if not view.filters.fold_sums:
        open_mask[:n_groups] |= ix.group_kind == SUM
    if view.scope is not None:  # the focused scope and the groups around it are always open
        g = ix.group_number[view.scope]
        while g >= 0:
            open_mask[g] = True
            g = ix.group_parent[g]
    open_mask[n_groups] = False

    paths = ix.paths[shown]
    closed = ~open_mask[paths]  # -1 indexes the last slot: "no group left" counts as closed
    first_closed = closed.argmax(axis=1)
    rows = np.arange(len(shown))
    hit = paths[rows, first_closed]
    enclosing = np.where(first_closed > 0, paths[rows, np.maximum(first_closed - 1, 0)], -1)
    # visible code: a group number, or n_groups + node id for a single value
    code = np.where(hit >= 0, hit, n_groups + shown)
    # visible nodes listed in the order of their first member: inputs before consumers, mostly
    first = np.full(n_groups + ix.n, ix.n, dtype=np.int64)
    np.minimum.at(first, code, shown)
    present = np.flatnonzero(first < ix.n)
    uniq = present[np.argsort(first[present], kind="stable")]
    rank = np.empty(n_groups + ix.n, dtype=np.int64)
    rank[uniq] = np.arange(len(uniq))
    inverse = rank[code]
    # members of each visible node, contiguous; a 16-bit key lets numpy use its linear radix sort
    key = inverse.astype(np.uint16) if len(uniq) < 2**16 else inverse
    order = np.argsort(key, kind="stable")
    bounds = np.zeros(len(uniq) + 1, dtype=np.int64)
    np.cumsum(np.bincount(inverse, minlength=len(uniq)), out=bounds[1:])
    sorted_members = shown[order]
    starts = bounds[:-1]

    data, grad = trace.data, trace.grad
    with np.errstate(invalid="ignore"):
        max_abs_grad = np.maximum.reduceat(np.abs(grad[sorted_members]), starts).tolist()
        max_abs_data = np.maximum.reduceat(np.abs(data[sorted_members]), starts).tolist()
    bad = ~(np.isfinite(data[sorted_members]) & np.isfinite(grad[sorted_members]))
    nonfinite = np.add.reduceat(bad.astype(np.int64), starts).tolist()
    made_by_op = ~(ix.is_const[sorted_members] | ix.is_param[sorted_members])
    ops = np.add.reduceat(made_by_op.astype(np.int64), starts).tolist()
    pos_sorted = trace.pos[sorted_members]
    low, high = np.minimum.reduceat(pos_sorted, starts), np.maximum.reduceat(pos_sorted, starts)
    common_pos = np.where(low == high, low, -1).tolist()
    parents = enclosing[order[starts]].tolist()
    outputs_of = _leaving_counts(ix, hands_on(trace), uniq, bounds, sorted_members)
    hide_constants = view.filters.hide_constants
    nodes = []
    for k, c in enumerate(uniq.tolist()):
        members = sorted_members[bounds[k] : bounds[k + 1]]
        parent = parents[k]
        common = dict(
            parent=None if parent < 0 else ix.groups[parent].id,
            members=members,
            count=len(members),
            max_abs_grad=max_abs_grad[k],
            max_abs_data=max_abs_data[k],
            nonfinite=nonfinite[k],
            pos=common_pos[k],
        )
        if c >= n_groups:
            i = c - n_groups
            nodes.append(
                VisibleNode(
                    id=f"n{i}", kind="value", label=_value_label(ix, i, hide_constants), scope=trace.scope[i],
                    expandable=False, op=ix.op_label(i) if ix.op[i] != "param" else "param", node=i,
                    data=float(data[i]), grad=float(grad[i]), **common,
                )
            )
            continue
        group = ix.groups[c]
        if group.kind == SUM:
            i = group.node
            nodes.append(
                VisibleNode(
                    id=group.id, kind="value", label=group.label, scope=group.scope, expandable=True,
                    op="sum", node=i, data=float(data[i]), grad=float(grad[i]), **common,
                )
            )
        else:
            kind = "vector" if group.kind == VECTOR else "group"
            outputs = outputs_of.get(k, 0)
            nodes.append(VisibleNode(id=group.id, kind=kind, label=group.label, scope=group.scope, expandable=True,
                                     ops=ops[k], outputs=outputs, **common))

    node_code = np.full(ix.n, -1, dtype=np.int64)
    node_code[shown] = inverse
    edges = _aggregate_edges(ix, node_code, nodes)
    shape_key = (
        tuple(n.id for n in nodes),
        tuple((e.source, e.target) for e in edges),
    )
    clusters = _clusters(ix, enclosing)
    shape_key = shape_key + (tuple((c.id, c.parent) for c in clusters),)
    by_id = {n.id: k for k, n in enumerate(nodes)}
    return Rendered(
        nodes=nodes, edges=edges, clusters=clusters, shape_key=shape_key, focus=view.scope, trace=trace,
        _code=node_code, _by_id=by_id,
    )


def _hands_on_flags(trace):
    """Per node: True when it is used outside its innermost scope, or by nothing (a root)."""
    ix = index_of(trace)
    paths = ix.paths
    is_scope = (paths >= 0) & (ix.group_kind[np.maximum(paths, 0)] == SCOPE)
    depth = paths.shape[1] - 1 - np.argmax(is_scope[:, ::-1], axis=1)  # of the innermost scope
    has_scope = is_scope.any(axis=1)
    innermost = np.where(has_scope, paths[np.arange(ix.n), depth], -1)
    consumers_per_node = np.diff(ix.succ_ptr)
    edge_owner = ix.src[ix.succ_edge]  # succ_edge lists each node's outgoing edges in node order
    consumers = ix.dst[ix.succ_edge]
    outside = paths[consumers, depth[edge_owner]] != innermost[edge_owner]
    flags = consumers_per_node == 0
    flags[edge_owner[outside]] = True
    flags.setflags(write=False)
    return flags


hands_on = per_trace(_hands_on_flags)


def _leaving_counts(ix, flags, uniq, bounds, sorted_members):
    """{k: how many members of visible node k are used outside its scope, or by nothing (a root)},
    for every k that is a collapsed scope group with no scope inside it (`flags`: hands_on(trace)).

    These are what the scope hands on: q's 16 sums, not the 256 products and partial sums
    that made them. Inside a scope with no scope in it, a node's innermost scope is that one,
    so one flag per node, made once per step, serves every view.
    """
    n_groups = len(ix.groups)
    is_group = uniq < n_groups
    group_of = np.where(is_group, uniq, 0)
    wanted = is_group & (ix.group_kind[group_of] == SCOPE) & ~ix.scope_has_child_scope[group_of]
    ks = np.flatnonzero(wanted)
    if not len(ks):
        return {}
    per_box = np.add.reduceat(flags[sorted_members].astype(np.int64), bounds[:-1])
    return dict(zip(ks.tolist(), per_box[ks].tolist()))


def box_text(node):
    """The words on a collapsed group's or vector's box, one line each: its name, then its size.

    One wording for the exported diagrams and the app's boxes. The size keeps apart what a
    student could mix up: how long the vector is that the block hands on (`16 values`) and how
    many scalar operations it took (`512 ops`). A block made of other blocks (a layer, a
    position) is no one vector: only its ops. A parameter matrix holds values, made by no op.
    Named relative to the open group drawn around the box, which already says where it is.
    """
    name = node.label
    if node.kind == "vector" and node.parent == node.scope and ": " in name:
        name = name.split(": ", 1)[1]  # `q: 16 × sum(16)` inside q's own box
    elif node.kind != "vector" and node.parent is None and "/" in node.scope:
        name = node.scope  # no box around it: give the whole path
    elif node.scope.startswith("params/"):
        return [f"param {node.label}", _counted(node.count, "value")]
    if node.kind == "vector":
        if node.ops == _vector_units(node):
            return [name]  # `16 × +` says it all
        return [name, _counted(node.ops, "op")]
    if node.outputs:
        return [name, f"{_counted(node.outputs, 'value')} · {_counted(node.ops, 'op')}"]
    return [name, _counted(node.ops, "op")]


def _counted(n, noun):
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _vector_units(node):
    """The n of a vector's `n × op` label; -1 when the label has none."""
    head = node.label.rsplit(" × ", 1)[0].rsplit(" ", 1)[-1]
    return int(head) if head.isdigit() else -1


def _clusters(ix, enclosing):
    open_groups = set()
    for g in np.unique(enclosing[enclosing >= 0]).tolist():
        while g >= 0 and g not in open_groups:
            open_groups.add(g)
            g = int(ix.group_parent[g])
    kinds = {SCOPE: "group", VECTOR: "vector", SUM: "value"}
    clusters = []
    for g in sorted(open_groups, key=lambda g: (ix.group_depth[g], g)):
        group, parent = ix.groups[g], int(ix.group_parent[g])
        clusters.append(Cluster(group.id, group.label, None if parent < 0 else ix.groups[parent].id, kinds[group.kind]))
    return clusters


def _aggregate_edges(ix, node_code, nodes):
    cu, cv = node_code[ix.src], node_code[ix.dst]
    keep = (cu >= 0) & (cv >= 0) & (cu != cv)
    edge_ids = np.flatnonzero(keep)
    if not len(edge_ids):
        return []
    m = len(nodes)
    pair = cu[edge_ids] * m + cv[edge_ids]
    pairs, first, counts = np.unique(pair, return_index=True, return_counts=True)
    edges = []
    for p, f, c in zip(pairs.tolist(), first.tolist(), counts.tolist()):
        s, t = divmod(p, m)
        lg = float(ix.local_grad[edge_ids[f]]) if c == 1 else None
        edges.append(VisibleEdge(source=nodes[s].id, target=nodes[t].id, count=c, local_grad=lg))
    return edges


def _value_label(ix, i, hide_constants):
    op = ix.op[i]
    if op == "param":
        return ix.param_name[i]
    if op == "const":
        return f"{ix.trace.data[i]:.4g}"
    label = ix.op_label(i).replace("**", "** ")
    operand = ix.const_operand[i]
    if hide_constants and op in ("+", "*") and not np.isnan(operand):
        label = f"{op} {operand:.4g}"  # the hidden constant this value was made with
    return label


