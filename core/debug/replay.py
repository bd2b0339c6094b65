"""Backward replay: every node's grad as it stands after backward has visited k nodes.

Backward visits nodes from the loss down (node id N-1 first, `order` 0) and, at each node,
adds `local_grad * grad(node)` into each of its inputs. A node's grad is final by the time it
is visited, so every edge's contribution is known from the recorded Trace alone; the grads
at position k are the sums of the contributions made by the first k visited nodes. Edges are
kept sorted in visiting order, so a position costs one bincount over a prefix: fast enough
for a slider, and summed in the engine's order, so position N gives the recorded grads bit
for bit.

For exports: `grads_at(trace, k)` is the array a view can be coloured by at position k,
`trace_at(trace, k)` a Trace showing it, `regraded(rendered, frame)` a laid-out view
recoloured for it, `unreached_boxes(rendered, trace, k)` the boxes backward has not reached yet and
`describe_position(trace, k)` a title line (core/views/export_replay.py).
Only the recorded edges are read (core/trace/wiring.py), so a script's step with ops the tape
cannot recompute (micrograd's tanh) replays too.
"""
from dataclasses import replace

import numpy as np

from core.trace.per_trace import per_trace
from core.trace.wiring import wiring_of



class BackwardReplay:
    def __init__(self, trace):
        wiring = wiring_of(trace)  # edges only: any op a script's step holds replays
        n = wiring.size
        producer, consumer, slot, local = wiring.edge_arrays()
        contribution = local * np.asarray(trace.grad)[consumer]
        # visiting order: highest consumer id first; within a node, argument slot 0 then 1
        order = np.lexsort((slot, -consumer))
        self.size = n  # nodes; positions run from 0 (nothing visited) to n (backward done)
        self.loss_node = wiring.loss_node
        self._producer = producer[order]
        self._contribution = contribution[order]
        self._consumer = consumer[order]
        # edges made by the first k visited nodes = edges whose consumer id is >= n - k
        self._edges_before = np.searchsorted(-self._consumer, -(n - np.arange(n + 1)), side="right")
        last_consumer = np.full(n, n, dtype=np.int64)  # the loss has no consumer: final from the start
        np.minimum.at(last_consumer, producer, consumer)
        self._final_from = n - last_consumer  # position from which a node's grad is complete
        first_consumer = np.full(n, -1, dtype=np.int64)
        np.maximum.at(first_consumer, producer, consumer)
        # position from which a node has had a contribution (maybe 0); never (size + 1) without consumers
        self._reached_from = np.where(first_consumer >= 0, n - first_consumer, n + 1)
        self._reached_from[self.loss_node] = 0

    @property
    def positions(self):
        """Number of positions: 0 .. size inclusive."""
        return self.size + 1

    def _check(self, k):
        if not 0 <= k <= self.size:
            raise ValueError(f"backward position {k} is out of range 0..{self.size}")
        return int(k)

    def grads_at(self, k):
        """Every node's grad after backward has visited k nodes (a new float array)."""
        k = self._check(k)
        m = self._edges_before[k]
        grads = np.bincount(self._producer[:m], weights=self._contribution[:m], minlength=self.size)
        grads[self.loss_node] = 1.0  # backward seeds the root before visiting anything
        return grads

    def node_at(self, k):
        """The node backward visits at step k (0-based), i.e. the one that position k+1 adds."""
        if not 0 <= k < self.size:
            raise ValueError(f"backward step {k} is out of range 0..{self.size - 1}")
        return self.size - 1 - int(k)

    def visited(self, k):
        """Mask of the nodes backward has visited at position k."""
        k = self._check(k)
        return np.arange(self.size) >= self.size - k

    def reached(self, k):
        """Mask of the nodes backward has reached at position k: the loss, and every node one of whose
        consumers has been visited. An unreached node's grad of 0 means "nothing yet", not "small"."""
        k = self._check(k)
        return self._reached_from <= k

    def complete(self, k):
        """Mask of the nodes whose grad is final at position k (every consumer has been visited)."""
        k = self._check(k)
        return self._final_from <= k

    def span(self, nodes):
        """(first, last): the stretch of positions in which the grads of `nodes` change.

        `first` is the position just before backward first adds to one of them, `last` the
        one after it last does (the very end when only leaves are left to visit); (0, size)
        when backward never adds to them.
        """
        touched = np.isin(self._producer, np.asarray(nodes, dtype=np.int64)) & (self._contribution != 0)
        if not touched.any():
            return 0, self.size
        consumers = self._consumer[touched]
        first, last = self.size - int(consumers.max()) - 1, self.size - int(consumers.min())
        if self._edges_before[last] == len(self._producer):  # only leaves left: they add nothing
            last = self.size
        return first, last

    def frames(self, count, nodes=None):
        """`count` positions evenly spread from 0 to the end, for a frame-by-frame export.

        With `nodes` (say, the members of a view), over the span in which their grads change
        instead: a view of one softmax changes during a sliver of backward, not all of it.
        """
        if count < 2:
            raise ValueError("a replay needs at least 2 frames (the start and the end)")
        first, last = (0, self.size) if nodes is None else self.span(nodes)
        if count > last - first + 1:
            raise ValueError(f"backward changes these grads over {last - first + 1} positions only; ask for at most that many frames")
        return [first + int(round(i * (last - first) / (count - 1))) for i in range(count)]


replay_of = per_trace(BackwardReplay)


def grads_at(trace, k):
    """The grads to colour a view of `trace` by at backward position k (0 .. num_nodes)."""
    return replay_of(trace).grads_at(k)


def trace_at(trace, k):
    """A copy of `trace` whose grad columns show backward position k, for exporting a frame.

    Only the columns views and exports colour by are replaced (grad, attention_weight_grads):
    a copy for drawing. Its node attributes (and its graph, if asked for) show those grads
    too, but the recorded local grads are the final step's.
    """
    grads = grads_at(trace, k)
    grads.flags.writeable = False
    nodes = trace.attention_nodes
    attention = np.where(nodes >= 0, grads[np.maximum(nodes, 0)], np.nan)
    attention.flags.writeable = False
    return replace(trace, grad=grads, attention_weight_grads=attention)


def regraded(rendered, frame):
    """A copy of a rendered view (core.views.rendered.Rendered) whose boxes show `frame`'s grads.

    `frame` is a Trace of the same step, e.g. trace_at(trace, k): the graph on screen or in
    an export is recoloured for a backward position without laying it out again.
    """
    grad, data = frame.grad, frame.data
    nodes = []
    with np.errstate(invalid="ignore"):
        for n in rendered.nodes:
            members = grad[n.members]
            finite = np.isfinite(members) & np.isfinite(data[n.members])
            nodes.append(replace(
                n,
                grad=None if n.grad is None else float(grad[n.node]),
                max_abs_grad=float(np.max(np.abs(members))) if len(members) else 0.0,
                nonfinite=int(len(members) - finite.sum()),
            ))
    return replace(rendered, nodes=nodes, trace=frame)


def unreached_boxes(rendered, trace, k):
    """Visible ids of the boxes of `rendered` (a view of `trace`) none of whose members backward has
    reached at position k: a frame draws them apart from boxes with a small grad."""
    reached = replay_of(trace).reached(k)
    return frozenset(n.id for n in rendered.nodes if len(n.members) and not reached[n.members].any())


def describe_position(trace, k):
    """One line saying where backward stands at position k, for the title of an exported frame."""
    replay = replay_of(trace)
    k = replay._check(k)
    n = replay.size
    where = f"backward replay: {k} of {n} nodes visited ({100 * k / n:.1f}%)"
    if k == 0:
        return f"{where}, only the loss has its grad of 1"
    if k == n:
        return f"{where}, backward done: the recorded grads"
    nxt = replay.node_at(k)
    return f"{where}, next #{nxt} in {trace.scope[nxt]}"
