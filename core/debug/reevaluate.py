"""What-if: set a node's data in a recorded step and recompute the forward and backward.

The Trace already knows every node's op and inputs, so any node (a parameter, an attention
weight, an activation, a constant) can be given a new value and everything downstream of it
recomputed to the loss, followed by a full backward. The Trace itself is never touched:
undo is simply keeping the original.

An edited node that has inputs acts as if a constant offset were added to it: downstream
sees the new value, and its gradient still flows to its inputs with the local gradients of
its op. Softmax max-shifts were plain floats in microgpt, so they stay recorded constants;
softmax is shift-invariant, which keeps the recomputed loss equal (to rounding) to a fresh
forward pass with the edited value.
"""
import math
from dataclasses import dataclass, replace

import numpy as np

from core.trace import tape as tapes


@dataclass(frozen=True, eq=False)
class WhatIf:
    edits: dict  # node id -> the value it was set to
    loss_before: float  # the recorded loss
    loss_after: float  # the loss with the edits
    data: np.ndarray  # new data per node id
    grad: np.ndarray  # new d loss / d node per node id
    data_delta: np.ndarray  # data - recorded data (NaN where either is NaN)
    grad_delta: np.ndarray  # grad - recorded grad
    local_grads: tuple  # (slot-0, slot-1) local grad per consumer node id, as recomputed

    @property
    def loss_delta(self):
        return self.loss_after - self.loss_before

    def changed_nodes(self, tolerance=0.0):
        """Node ids whose data or grad moved by more than `tolerance` (or became / stopped being NaN)."""
        return np.flatnonzero(_moved(self.data_delta, tolerance) | _moved(self.grad_delta, tolerance))

    def to_trace(self, trace):
        """A new Trace with the edited data and grads everywhere: graph, columns and attention tables."""
        return _edited_trace(trace, self)


def _moved(delta, tolerance):
    # NaN deltas mean a value became (or was) NaN: that is a change worth showing
    return np.isnan(delta) | (np.abs(delta) > tolerance)


class Reevaluator:
    """Recomputes one Trace under edits; cheap to call many times (the graph is flattened once)."""

    def __init__(self, trace):
        self.trace = trace
        self.tape = tapes.tape_of(trace)

    def _check(self, edits):
        if not edits:
            raise ValueError("no edits given: set at least one node's data")
        clean = {}
        for node, value in edits.items():
            if isinstance(node, bool) or not isinstance(node, (int, np.integer)) or not 0 <= node < self.tape.size:
                raise ValueError(f"node {node!r} is not in this trace (ids run from 0 to {self.tape.size - 1})")
            try:
                clean[int(node)] = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"node {node}: {value!r} is not a number") from None
        return clean

    def forward_data(self, edits):
        """Every node's data (a list) with already-checked `edits` applied; the forward only."""
        data = list(self.tape.data)
        for node, value in edits.items():
            data[node] = value
        return tapes.forward(self.tape, data, start=min(edits), pinned=edits)

    def loss_with(self, edits):
        """The loss with `edits` ({node id: value}) applied: the forward only, no backward."""
        edits = self._check(edits)
        return self.forward_data(edits)[self.tape.loss_node]

    def what_if(self, edits):
        """Apply `edits` ({node id: value}) and recompute forward and backward."""
        edits = self._check(edits)
        data = self.forward_data(edits)
        local0, local1 = tapes.local_grads(self.tape, data)
        grad = tapes.backward(self.tape, local0, local1)
        data, grad = np.array(data), np.array(grad)
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is a NaN delta, on purpose
            data_delta, grad_delta = data - self.trace.data, grad - self.trace.grad
        return WhatIf(
            edits=edits,
            loss_before=self.trace.loss,
            loss_after=float(data[self.tape.loss_node]),
            data=_frozen(data),
            grad=_frozen(grad),
            data_delta=_frozen(data_delta),
            grad_delta=_frozen(grad_delta),
            local_grads=(_frozen(np.array(local0)), _frozen(np.array(local1))),
        )

    def set_node(self, node, value):
        """What-if for a single node."""
        return self.what_if({node: value})


def what_if(trace, node, value):
    """Shortcut: the effect of setting one node of `trace` to `value`."""
    return Reevaluator(trace).set_node(node, value)


def attention_logit_nodes(trace):
    """Node id of each attention logit (the softmax input), shaped like trace.attention_nodes.

    A softmax output is `exp(logit + (-max)) * total**-1`, so the logit is three slot-0 steps
    up from the weight.
    """
    c0 = np.array(tapes.tape_of(trace).child0 + [-1])  # index -1 (masked cells) maps to -1
    weights = trace.attention_nodes
    return np.where(weights >= 0, c0[c0[c0[weights]]], -1)


def _frozen(array):
    array.flags.writeable = False
    return array


def _edited_trace(trace, result):
    data, grad = result.data, result.grad
    nodes = trace.attention_nodes
    masked = nodes < 0
    logit_nodes = attention_logit_nodes(trace)
    return replace(
        trace,
        loss=result.loss_after,
        position_losses=tuple(float(data[n]) for n in trace.position_loss_nodes),
        attention_weights=_frozen(np.where(masked, math.nan, data[nodes])),
        attention_logits=_frozen(np.where(masked, math.nan, data[logit_nodes])),
        attention_weight_grads=_frozen(np.where(masked, math.nan, grad[nodes])),
        data=data,
        grad=grad,
        edges=trace.edges.with_local_grads(_edge_local_grads(trace.edges, *result.local_grads)),
    )


def _edge_local_grads(edges, local0, local1):
    """The local grad of every edge row from the per-consumer slot-0 and slot-1 columns."""
    return np.where(edges.slot == 0, np.asarray(local0)[edges.dst], np.asarray(local1)[edges.dst])
