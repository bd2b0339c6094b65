"""Diff two Traces of the same shape: what changed, where most, and where the runs part ways.

Two recordings have the same shape when their graphs have the same ops wired the same way,
node for node: the same doc recorded at steps s and s', or under two seeds or learning
rates. Because node ids are topological positions, node i means the same place in both.
Only the wiring and the recorded numbers are compared, so steps recorded from a user's
script diff too, whatever ops they hold.
"""
import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from core.debug.anomaly import module_scope
from core.trace.wiring import wiring_of

TOLERANCE = 1e-9  # values closer than this (relative to max(1, |value|)) count as equal


class ShapeMismatch(ValueError):
    """Two Traces whose graphs differ, so node ids do not line up.

    first: the ShapeDifference where they part (None when no node tells them apart, e.g. only
    the node counts differ after the shorter graph's end).
    """

    def __init__(self, message, first=None):
        super().__init__(message)
        self.first = first


@dataclass(frozen=True)
class ShapeDifference:
    node: int  # the first node id (topological position) that is a different op or wired differently
    op_a: str  # its op in A ("" when A has no such node)
    scope_a: str
    op_b: str  # its op in B
    scope_b: str


@dataclass(frozen=True)
class Divergence:
    node: int  # node id where the runs first differ beyond the tolerance
    a: float  # its value in run A
    b: float  # its value in run B
    scope: str  # the node's scope


@dataclass(frozen=True)
class LocalGradDivergence:
    node: int  # the op whose recorded local gradient differs: where a backward rule goes wrong
    operand: int  # the input the edge leads to
    slot: int  # which argument of the op it is
    a: float  # the local gradient recorded in run A
    b: float  # in run B
    scope: str  # the op's scope


@dataclass(frozen=True)
class ScopeChange:
    scope: str  # scope without its position ('layer0/attn/head2/softmax', 'params/wte')
    nodes: int  # nodes in the scope
    changed: int  # nodes whose data or grad moved beyond the tolerance
    data_change: float  # RMS of the data change / RMS of A's data (the change itself where A is all 0)
    grad_change: float  # the same for grads
    node: int  # the node whose data or grad moved most (relative), to jump to


@dataclass(frozen=True, eq=False)
class TraceDiff:
    a: object  # Trace A
    b: object  # Trace B
    tolerance: float  # see TOLERANCE
    data_delta: np.ndarray  # B.data - A.data per node id
    grad_delta: np.ndarray  # B.grad - A.grad per node id
    data_changed: np.ndarray  # mask: data differs beyond the tolerance
    grad_changed: np.ndarray  # mask: grad differs beyond the tolerance
    scopes: tuple  # ScopeChange, the most changed first
    first_data_divergence: object  # Divergence in topological order (forward), or None
    first_grad_divergence: object  # Divergence in backward order, or None
    first_local_grad_divergence: object  # LocalGradDivergence in backward order, or None: the op whose backward rule differs
    same_doc: bool  # False when two docs of equal shape were compared (node i is then another token)

    @property
    def loss_delta(self):
        return self.b.loss - self.a.loss

    @property
    def position_loss_deltas(self):
        return tuple(b - a for a, b in zip(self.a.position_losses, self.b.position_losses))

    @property
    def identical(self):
        return not self.data_changed.any() and not self.grad_changed.any()

    @property
    def attention_delta(self):
        return self.b.attention_weights - self.a.attention_weights


def check_same_shape(a, b):
    """Raise ShapeMismatch with a one-line reason (and where they part) unless node i is the same operation in both."""
    wa, wb = wiring_of(a), wiring_of(b)
    op_a, op_b = _operations(a.op), _operations(b.op)
    first = _first_shape_difference(a, b, wa, wb, op_a, op_b)
    where = f"; they part at node #{first.node}: {_op_in(first.op_a, first.scope_a)} vs {_op_in(first.op_b, first.scope_b)}" if first else ""
    if a.num_nodes != b.num_nodes or a.num_edges != b.num_edges:
        hint = "the models differ (activation or size)" if a.doc == b.doc else "record the same doc in both"
        raise ShapeMismatch(
            f"the two steps have different graphs: {a.num_nodes} nodes / {a.num_edges} edges on {a.doc!r} "
            f"vs {b.num_nodes} / {b.num_edges} on {b.doc!r}{where}; {hint}", first,
        )
    if first is not None:
        raise ShapeMismatch(
            f"the two steps' graphs part at node #{first.node}: {_op_in(first.op_a, first.scope_a)} vs "
            f"{_op_in(first.op_b, first.scope_b)} (a different activation or model shape?)", first,
        )
    if [e[:3] for e in wa.extra] != [e[:3] for e in wb.extra]:
        raise ShapeMismatch("the two steps' graphs differ in the operands of an op of three or more arguments")


def _op_in(op, scope):
    return f"{op} in {scope}" if op else "nothing"


def _first_shape_difference(a, b, wa, wb, op_a, op_b):
    """The first node id that is a different op or wired differently in A and B, or None."""
    n = min(a.num_nodes, b.num_nodes)
    slots_a = (op_a[:n], wa.exponents[:n], wa.child0[:n], wa.child1[:n])
    slots_b = (op_b[:n], wb.exponents[:n], wb.child0[:n], wb.child1[:n])
    if slots_a == slots_b:
        if a.num_nodes == b.num_nodes:
            return None
        longer, i = (a, n) if a.num_nodes > n else (b, n)
        op, scope = longer.op[i], longer.scope[i]
        return ShapeDifference(i, op if longer is a else "", scope if longer is a else "",
                               op if longer is b else "", scope if longer is b else "")
    for i in range(n):
        if (op_a[i], wa.exponents[i], wa.child0[i], wa.child1[i]) != (op_b[i], wb.exponents[i], wb.child0[i], wb.child1[i]):
            return ShapeDifference(i, a.op[i], a.scope[i], b.op[i], b.scope[i])
    return None


def _operations(ops):
    """Ops with every leaf alike: a parameter in one run may be a constant in the other (the tape's view)."""
    return ["leaf" if op in ("param", "const") else op for op in ops]


def _differs(x, y, tolerance):
    """Mask of x != y beyond the tolerance; two NaNs are equal, an inf only equals itself."""
    with np.errstate(invalid="ignore", over="ignore"):
        scale = np.maximum(1.0, np.maximum(np.abs(x), np.abs(y)))
        close = np.abs(x - y) <= tolerance * scale  # False wherever a NaN is involved
    both_nan = np.isnan(x) & np.isnan(y)
    infinite = np.isinf(x) | np.isinf(y)
    return (x != y) & ~both_nan & (~close | infinite)


def _divergence(trace_a, values_a, values_b, changed, backward):
    ids = np.flatnonzero(changed)
    if not len(ids):
        return None
    node = int(ids[-1] if backward else ids[0])
    return Divergence(node, float(values_a[node]), float(values_b[node]), trace_a.scope[node])


def _local_grad_divergence(a, b, tolerance):
    """The edge, in backward order, whose recorded local gradient differs: the op whose backward rule differs."""
    producer, consumer, slot, local_a = wiring_of(a).edge_arrays()
    local_b = wiring_of(b).edge_arrays()[3]
    changed = np.flatnonzero(_differs(local_a, local_b, tolerance))
    if not len(changed):
        return None
    # backward visits ops from the highest id down; within one op, its arguments in slot order
    edge = min(changed, key=lambda e: (-consumer[e], slot[e]))
    node = int(consumer[edge])
    return LocalGradDivergence(node, int(producer[edge]), int(slot[edge]), float(local_a[edge]), float(local_b[edge]), a.scope[node])


def _relative_rms(delta, base):
    finite = np.isfinite(delta)
    if not finite.all():
        return math.inf
    with np.errstate(over="ignore", invalid="ignore"):
        change = math.sqrt(float(np.mean(delta * delta)))
        size = math.sqrt(float(np.mean(base * base)))
    return change / size if size > 0 else change


def _relative_move(delta, base):
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        move = np.abs(delta) / np.maximum(np.abs(base), 1e-300)
    return np.where(np.isnan(move), np.inf, move)


def _scope_changes(a, data_delta, grad_delta, changed):
    groups = defaultdict(list)
    cache = {}
    for node, path in enumerate(a.scope):
        scope = cache.get(path)
        if scope is None:
            scope = cache[path] = module_scope(path)
        groups[scope].append(node)
    moved = np.maximum(_relative_move(data_delta, a.data), _relative_move(grad_delta, a.grad))
    moved = np.where(changed, moved, -1.0)
    rows = []
    for scope, nodes in groups.items():
        nodes = np.array(nodes)
        rows.append(ScopeChange(
            scope=scope,
            nodes=len(nodes),
            changed=int(changed[nodes].sum()),
            data_change=_relative_rms(data_delta[nodes], a.data[nodes]),
            grad_change=_relative_rms(grad_delta[nodes], a.grad[nodes]),
            node=int(nodes[np.argmax(moved[nodes])]),
        ))
    rows.sort(key=lambda r: (-max(r.data_change, r.grad_change), r.scope))
    return tuple(rows)


def diff(a, b, tolerance=TOLERANCE):
    """The TraceDiff of B against A; ShapeMismatch when their graphs differ."""
    if not tolerance >= 0:
        raise ValueError(f"the tolerance must be >= 0, got {tolerance}")
    check_same_shape(a, b)
    with np.errstate(invalid="ignore", over="ignore"):
        data_delta = b.data - a.data
        grad_delta = b.grad - a.grad
    data_changed = _differs(a.data, b.data, tolerance)
    grad_changed = _differs(a.grad, b.grad, tolerance)
    return TraceDiff(
        a=a,
        b=b,
        tolerance=tolerance,
        data_delta=data_delta,
        grad_delta=grad_delta,
        data_changed=data_changed,
        grad_changed=grad_changed,
        scopes=_scope_changes(a, data_delta, grad_delta, data_changed | grad_changed),
        first_data_divergence=_divergence(a, a.data, b.data, data_changed, backward=False),
        first_grad_divergence=_divergence(a, a.grad, b.grad, grad_changed, backward=True),
        first_local_grad_divergence=_local_grad_divergence(a, b, tolerance),
        same_doc=a.doc == b.doc,
    )
