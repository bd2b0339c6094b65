"""Walking the recorded graph one node at a time: what the node inspector and click-through need.

Every helper takes a Trace and plain node ids and answers from the trace's numpy index, so
it stays instant on 140k nodes.
"""
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass

import numpy as np

from core.trace.index import gather, index_of


@dataclass(frozen=True)
class Link:
    node: int  # the node at the other end (an input, or a consumer)
    slot: int  # argument slot of the edge in the consumer (0 or 1)
    local_grad: float  # d consumer / d input along this edge
    # Gradient carried along this edge. For consumers: local_grad * consumer.grad; these add up to
    # the node's own grad. For inputs: local_grad * node.grad, this node's share of the input's grad.
    contribution: float


@dataclass(frozen=True)
class AttentionCell:
    """Where a softmax output of an attention head sits: the query position looking, the key position looked at."""

    layer: int
    head: int
    query: int
    key: int


def _check(index, node):
    node = int(node)
    if not 0 <= node < index.n:
        raise ValueError(f"node {node} does not exist (the step has {index.n} nodes)")
    return node


def inputs_of(trace, node):
    """The inputs of `node`, in argument order (x * x lists x twice)."""
    ix = index_of(trace)
    node = _check(ix, node)
    grad = trace.grad[node]
    return [
        Link(int(ix.src[e]), int(ix.slot[e]), float(ix.local_grad[e]), float(ix.local_grad[e] * grad))
        for e in ix.input_edges(node)
    ]


def consumers_of(trace, node):
    """The values `node` feeds, one Link per edge; their contributions sum to node's grad."""
    ix = index_of(trace)
    node = _check(ix, node)
    return [
        Link(int(ix.dst[e]), int(ix.slot[e]), float(ix.local_grad[e]), float(ix.local_grad[e] * trace.grad[ix.dst[e]]))
        for e in ix.output_edges(node)
    ]


def path_between(trace, a, b):
    """Shortest chain of nodes from a to b following the data (either way round), [] if none.

    Node ids are topological, so the search only walks forward from the smaller id and never
    past the larger one.
    """
    ix = index_of(trace)
    a, b = _check(ix, a), _check(ix, b)
    if a == b:
        return [a]
    start, goal = min(a, b), max(a, b)
    previous = {start: -1}
    queue = deque([start])
    while queue:
        u = queue.popleft()
        for e in ix.output_edges(u).tolist():
            v = int(ix.dst[e])
            if v > goal or v in previous:
                continue
            previous[v] = u
            if v == goal:
                path = [v]
                while previous[path[-1]] != -1:
                    path.append(previous[path[-1]])
                path.reverse()
                return path if start == a else path[::-1]
            queue.append(v)
    return []


def neighbourhood(trace, node, k=1):
    """Sorted node ids within k edges of `node`, in either direction (node included)."""
    ix = index_of(trace)
    node = _check(ix, node)
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    seen = np.zeros(ix.n, dtype=bool)
    seen[node] = True
    frontier = np.array([node])
    for _ in range(k):
        ins = ix.src[gather(ix.pred_ptr, ix.pred_edge, frontier)]
        outs = ix.dst[gather(ix.succ_ptr, ix.succ_edge, frontier)]
        nxt = np.unique(np.concatenate([ins, outs]))
        nxt = nxt[~seen[nxt]]
        if not len(nxt):
            break
        seen[nxt] = True
        frontier = nxt
    return np.flatnonzero(seen)


def attention_cell_of(trace, node):
    """The AttentionCell whose weight `node` is, or None for any other value (and for a script's step,
    which records no attention tables)."""
    nodes = trace.attention_nodes
    if nodes.ndim != 4 or not nodes.size:
        return None
    hits = np.argwhere(nodes == int(node))
    return AttentionCell(*map(int, hits[0])) if len(hits) else None


def enclosing_scope_that_fits(view, scope_path, limit):
    """The widest scope around `scope_path` (itself or one of its parents) under which `view`, at its
    current level, shows at most `limit` boxes; None when not even `scope_path` alone fits.

    For opening a fine level of detail around what is selected when the whole view is too big to lay
    out. Scopes are tried from the inside out and the search stops at the first that is too big, so
    the big views are rendered once at most. The view's own focus is left as it was.
    """
    parts = [p for p in (scope_path or "").split("/") if p]
    kept, best = view.scope, None
    try:
        for depth in range(len(parts), 0, -1):
            candidate = "/".join(parts[:depth])
            try:
                view.focus(candidate)
            except ValueError:
                continue  # not a scope of this view's cone (a scope its values do not reach)
            if len(view.render().nodes) > limit:
                break
            best = candidate
    finally:
        view.focus(kept)
    return best


def same_value(old, node, new):
    """The node of Trace `new` that plays the part `node` plays in Trace `old`, or None if it has none.

    Node ids are positions in a step's topological order, so the same id names unrelated values
    in two steps whose docs differ in length or in repeated letters. What stays is the part a
    value plays: a parameter entry is itself (matrix, row, column); any other value is the k-th
    value of its scope (the same code ran there in the same order) and must be made by the same op.
    """
    old_index, new_index = index_of(old), index_of(new)
    node = _check(old_index, node)
    param = old.details.param[node]
    if param:
        row, col = old.details.row[node], old.details.col[node]
        entries = np.asarray(new.param_nodes.get(param, ()), dtype=np.int64)
        found = entries[(new.details.row[entries] == row) & (new.details.col[entries] == col)]
        return int(found[0]) if len(found) else None
    code = old_index.scope_code[node]
    ordinal = int(np.count_nonzero(old_index.scope_code[:node] == code))
    scope = old_index.scope_names[code]
    at = bisect_left(new_index.scope_names, scope)
    if at == len(new_index.scope_names) or new_index.scope_names[at] != scope:
        return None
    members = np.flatnonzero(new_index.scope_code == at)
    if ordinal >= len(members) or new.op[members[ordinal]] != old.op[node]:
        return None
    return int(members[ordinal])
