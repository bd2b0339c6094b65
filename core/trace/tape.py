"""A Trace's graph as flat arrays, and microgpt's forward and backward rules replayed over them.

Every debugging tool that recomputes a step (what-if edits, gradient checks, backward replay,
diffs) needs the same three things per node: its op, its inputs by argument slot, and the
exponent of a `**` node. networkx is too slow to walk node by node for that, so the graph is
flattened once per Trace (and cached). The arithmetic below is the engine's, float for
float, so recomputing an unedited Trace gives back its data and grads bit for bit.
"""
import math

from core.trace.per_trace import per_trace
from core.trace.wiring import wiring_of

# Op codes, small ints so the hot loops compare ints, not strings.
LEAF, ADD, MUL, POW, LOG, EXP, RELU = range(7)
OP_CODES = {"param": LEAF, "const": LEAF, "+": ADD, "*": MUL, "**": POW, "log": LOG, "exp": EXP, "relu": RELU}


class Tape:
    """One Trace's wiring (core/trace/wiring.py) with the op codes and data that replaying it needs.

    Indexed by node id (= topological position). Built on the Trace's Wiring, so the graph's
    edges are flattened once for every tool, whether it replays the arithmetic or only
    follows the edges.
    """

    def __init__(self, trace):
        wiring = wiring_of(trace)
        if wiring.extra:
            producer, consumer, slot, _ = wiring.extra[0]
            raise ValueError(f"node {consumer} has {slot + 1} or more inputs; this tape replays ops of at most two")
        codes = [0] * wiring.size
        for i, op in enumerate(trace.op):
            code = OP_CODES.get(op)
            if code is None:
                raise ValueError(f"node {i} has an op this tape cannot replay: {op!r}")
            if code == POW and wiring.exponents[i] is None:
                raise ValueError(f"node {i} is a `**` whose exponent was not recorded")
            codes[i] = code
        self.wiring = wiring  # the shared flattening: child0/child1, recorded local grads, edge arrays
        self.size = wiring.size  # number of nodes
        self.loss_node = wiring.loss_node  # the root backward starts from
        self.codes = codes  # op code per node (LEAF, ADD, ...)
        self.exponents = wiring.exponents  # the k of each `** k` node, 0.0 elsewhere
        self.child0 = wiring.child0  # node id of argument slot 0, -1 for leaves
        self.child1 = wiring.child1  # node id of argument slot 1, -1 for unary ops and leaves
        self.recorded_local0 = wiring.local0  # local grad recorded on the slot-0 edge
        self.recorded_local1 = wiring.local1  # local grad recorded on the slot-1 edge
        self.data = [float(x) for x in trace.data]  # recorded data, as Python floats

    def edge_arrays(self):
        """(producer, consumer, slot, recorded local grad) of every edge, as numpy arrays."""
        return self.wiring.edge_arrays()

    def same_structure(self, other):
        """True when both tapes have the same ops, exponents and wiring, node for node."""
        return (
            self.size == other.size
            and self.codes == other.codes
            and self.exponents == other.exponents
            and self.child0 == other.child0
            and self.child1 == other.child1
        )


tape_of = per_trace(Tape)


def _pow(x, k):
    try:
        y = x**k
    except ZeroDivisionError:
        return math.inf
    except OverflowError:
        return math.inf
    return y if isinstance(y, float) else (math.nan if isinstance(y, complex) else float(y))


def _log(x):
    if x > 0 or x != x or x == math.inf:
        return math.log(x)
    return -math.inf if x == 0 else math.nan


def _exp(x):
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _inverse(x):
    try:
        return 1 / x
    except ZeroDivisionError:
        return math.copysign(math.inf, x)


def forward(tape, data, start=0, pinned=()):
    """Recompute, in place, every non-leaf node from id `start` on from its inputs in `data`.

    `pinned` node ids keep the value already in `data` (an edited node is held at its new
    value instead of being recomputed). Non-finite results become inf/nan instead of raising,
    so an edit that breaks the step shows where it breaks.
    """
    codes, c0, c1, k = tape.codes, tape.child0, tape.child1, tape.exponents
    pinned = set(pinned)
    for i in range(start, tape.size):
        code = codes[i]
        if code == LEAF or i in pinned:
            continue
        if code == ADD:
            data[i] = data[c0[i]] + data[c1[i]]
        elif code == MUL:
            data[i] = data[c0[i]] * data[c1[i]]
        elif code == EXP:
            data[i] = _exp(data[c0[i]])
        elif code == POW:
            data[i] = _pow(data[c0[i]], k[i])
        elif code == LOG:
            data[i] = _log(data[c0[i]])
        else:  # RELU, as the engine writes it: max(0, x), so NaN and -0.0 give 0
            x = data[c0[i]]
            data[i] = x if x > 0 else 0.0
    return data


def local_grads(tape, data):
    """The local gradient on every edge slot, from the op rules applied to `data`."""
    codes, c0, k = tape.codes, tape.child0, tape.exponents
    n = tape.size
    g0, g1 = [0.0] * n, [0.0] * n
    c1 = tape.child1
    for i in range(n):
        code = codes[i]
        if code == LEAF:
            continue
        if code == ADD:
            g0[i] = g1[i] = 1.0
        elif code == MUL:
            g0[i], g1[i] = data[c1[i]], data[c0[i]]
        elif code == EXP:
            g0[i] = _exp(data[c0[i]])
        elif code == POW:
            g0[i] = k[i] * _pow(data[c0[i]], k[i] - 1)
        elif code == LOG:
            g0[i] = _inverse(data[c0[i]])
        else:
            g0[i] = float(data[c0[i]] > 0)
    return g0, g1


def backward(tape, local0, local1):
    """d loss / d node for every node, accumulated in the engine's order (so bit-exact)."""
    c0, c1 = tape.child0, tape.child1
    grad = [0.0] * tape.size
    grad[tape.loss_node] = 1.0
    for i in range(tape.size - 1, -1, -1):
        a = c0[i]
        if a < 0:
            continue
        g = grad[i]
        grad[a] += local0[i] * g
        b = c1[i]
        if b >= 0:
            grad[b] += local1[i] * g
    return grad
