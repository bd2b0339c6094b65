"""Who feeds whom in a Trace, as flat arrays: the graph's structure without its arithmetic.

The one flattening of a Trace's edges, done once per Trace and shared. The tools that only
follow edges and recorded numbers (backward replay, the anomaly report, step diffs) read it
directly, so they work on any Trace, even a user's script's step with ops nobody can
recompute (micrograd's `tanh`, or `?2` where an op could not be inferred); core/trace/tape.py
adds the op codes for the tools that replay the arithmetic.
"""
import numpy as np

from core.trace.per_trace import per_trace


class Wiring:
    """Argument slots of every node of one Trace, indexed by node id (= topological position)."""

    def __init__(self, trace):
        n = trace.num_nodes
        e = trace.edges
        child0, child1 = np.full(n, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64)
        local0, local1 = np.zeros(n), np.zeros(n)
        for slot, child, local in ((0, child0, local0), (1, child1, local1)):
            rows = e.slot == slot
            child[e.dst[rows]] = e.src[rows]
            local[e.dst[rows]] = e.local_grad[rows]
        rest = np.flatnonzero(e.slot > 1)  # a script's own op of three or more operands
        extra = list(zip(e.src[rest].tolist(), e.dst[rest].tolist(), e.slot[rest].tolist(), e.local_grad[rest].tolist()))
        child0, child1, local0, local1 = child0.tolist(), child1.tolist(), local0.tolist(), local1.tolist()
        exponent = trace.details.exponent.tolist()
        self.size = n  # number of nodes
        self.loss_node = trace.loss_node  # the root backward starts from
        self.child0 = child0  # node id of argument slot 0, -1 for leaves
        self.child1 = child1  # node id of argument slot 1, -1 for unary ops and leaves
        self.local0 = local0  # local grad recorded on the slot-0 edge
        self.local1 = local1  # local grad recorded on the slot-1 edge
        self.extra = sorted(extra)  # (producer, consumer, slot, local grad) of slots 2 and up, rare
        # the k of each `** k` node (None where a script's pow did not say), 0.0 elsewhere
        self.exponents = [(exponent[i] if exponent[i] == exponent[i] else None) if op == "**" else 0.0 for i, op in enumerate(trace.op)]

    def edge_arrays(self):
        """(producer, consumer, slot, recorded local grad) of every edge, as numpy arrays."""
        c0, c1 = np.array(self.child0, dtype=np.int64), np.array(self.child1, dtype=np.int64)
        consumers = np.arange(self.size)
        has0, has1 = c0 >= 0, c1 >= 0
        extra = np.array(self.extra, dtype=float).reshape(-1, 4)
        producer = np.concatenate([c0[has0], c1[has1], extra[:, 0].astype(np.int64)])
        consumer = np.concatenate([consumers[has0], consumers[has1], extra[:, 1].astype(np.int64)])
        slot = np.concatenate([np.zeros(has0.sum(), dtype=np.int64), np.ones(has1.sum(), dtype=np.int64), extra[:, 2].astype(np.int64)])
        local = np.concatenate([np.array(self.local0, dtype=float)[has0], np.array(self.local1, dtype=float)[has1], extra[:, 3]])
        return producer, consumer, slot, local


wiring_of = per_trace(Wiring)
