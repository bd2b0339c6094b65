"""Gradient check: a recorded grad against a central finite difference of the recorded loss.

The numerical derivative re-evaluates the Trace's own graph with one node nudged up and down
(core/debug/reevaluate.py), so any node can be checked, not only parameters, and a wrong local
gradient rule in the engine shows up as a disagreement: the recomputation uses only the
forward rules, never the recorded local gradients.

relative error = |recorded - numerical| / max(|recorded|, |numerical|, GRAD_FLOOR). A loss
near 3 computed through ~60,000 roundings is only known to ~1e-15, so a finite difference
cannot resolve gradients much below ~1e-9; GRAD_FLOOR turns comparisons of such tiny
gradients into absolute ones instead of reporting noise as failure.

A step recorded from a user's script is checked the same way when every op in it is one the
tape can recompute; otherwise (micrograd's tanh, an op that could not be inferred) the
checker refuses up front with NotReplayable, naming the first such node.
"""
import math
import random
from dataclasses import dataclass

from core.trace import tape as tapes
from core.debug.reevaluate import Reevaluator

STEP = 1e-5  # the nudge, relative to max(1, |value|); measured best on both presets
GRAD_FLOOR = 1e-6  # below this size gradients are compared absolutely (see the module notes)
TOLERANCE = 1e-3  # default pass mark for the relative error
KINK_RETRIES = 2  # times the nudge is shrunk 100-fold when it crosses a relu kink


@dataclass(frozen=True)
class GradCheckRow:
    node: int  # node id in the Trace
    label: str  # what the node is: 'layer0.attn_wq[3][5]' or 'pos2/loss -log #59431'
    value: float  # the node's recorded data
    recorded: float  # the recorded grad
    numerical: float  # central finite difference of the loss
    abs_error: float  # |recorded - numerical|
    rel_error: float  # abs_error / max(|recorded|, |numerical|, GRAD_FLOOR)
    kink: bool  # the nudge crossed a relu kink even at the smallest step: no verdict


@dataclass(frozen=True)
class GradCheckReport:
    rows: tuple  # GradCheckRow per checked node
    tolerance: float  # a row fails when its rel_error exceeds this
    step: float  # the relative nudge used

    def failed(self, row):
        return not row.kink and not row.rel_error <= self.tolerance  # NaN fails too

    @property
    def failures(self):
        return [row for row in self.rows if self.failed(row)]

    @property
    def passed(self):
        return not self.failures

    @property
    def worst(self):
        judged = [row for row in self.rows if not row.kink]
        return max(judged, key=lambda row: (math.isnan(row.rel_error), row.rel_error), default=None)


def node_label(trace, node):
    attrs = trace.node_attributes(node)
    if attrs["kind"] == "param":
        return f"{attrs['param']}[{attrs['row']}][{attrs['col']}]"
    exponent = attrs.get("exponent")  # a script's power may not reveal it
    op = f"**{exponent:g}" if attrs["op"] == "**" and exponent is not None else attrs["op"]
    return f"{attrs['scope']} {op} #{node}"


def param_node(trace, name, row, col):
    """The node id of parameter name[row][col]; ValueError when it is not in the step's graph."""
    for node in trace.param_nodes.get(name, ()):
        attrs = trace.node_attributes(node)
        if attrs["row"] == row and attrs["col"] == col:
            return node
    if name not in trace.param_nodes:
        known = ", ".join(trace.param_nodes)
        raise ValueError(f"no parameter matrix {name!r} in this step (known: {known})")
    raise ValueError(f"{name}[{row}][{col}] is not used by this step (rows of wte/wpe appear only for the doc's tokens and positions)")


def sample_params(trace, count, seed=0):
    """`count` parameter nodes drawn at random, dealt round-robin over the matrices so each is covered."""
    rng = random.Random(seed)
    pools = []
    for name in trace.param_nodes:
        pool = list(trace.param_nodes[name])
        rng.shuffle(pool)
        pools.append(pool)
    picked = []
    while len(picked) < count and any(pools):
        for pool in pools:
            if pool and len(picked) < count:
                picked.append(pool.pop())
    return picked


class NotReplayable(ValueError):
    """A step holding an op the finite differences cannot recompute; str() says which and where."""


def replay_problem(trace):
    """Why the loss of `trace` cannot be recomputed through core/trace/tape.py, or None when it can."""
    exponent = trace.details.exponent
    for node, op in enumerate(trace.op):
        if op not in tapes.OP_CODES:
            known = " ".join(o for o in tapes.OP_CODES if o not in ("param", "const"))
            return (f"node #{node} in {trace.scope[node]} is a {op!r}, which gradcheck cannot recompute "
                    f"(it replays {known}, parameters and constants)")
        if op == "**" and math.isnan(exponent[node]):
            return f"node #{node} in {trace.scope[node]} is a power whose exponent is unknown, so gradcheck cannot recompute it"
    return None


class GradChecker:
    def __init__(self, trace, step=STEP, tolerance=TOLERANCE):
        if not step > 0:
            raise ValueError(f"the finite-difference step must be > 0, got {step}")
        if not tolerance >= 0:
            raise ValueError(f"the tolerance must be >= 0, got {tolerance}")
        problem = replay_problem(trace)
        if problem:
            raise NotReplayable(f"cannot check this step: {problem}")
        self.trace = trace
        self.step = step
        self.tolerance = tolerance
        self.reevaluator = Reevaluator(trace)
        tape = self.reevaluator.tape
        self._relus = [(i, tape.child0[i]) for i, code in enumerate(tape.codes) if code == tapes.RELU]

    def _crosses_kink(self, data):
        recorded = self.reevaluator.tape.data
        return any((data[x] > 0) != (recorded[x] > 0) for _, x in self._relus)

    def _difference(self, node, h):
        value = float(self.trace.data[node])
        up = self.reevaluator.forward_data({node: value + h})
        kink = self._crosses_kink(up)
        down = self.reevaluator.forward_data({node: value - h})
        kink = kink or self._crosses_kink(down)
        loss = self.reevaluator.tape.loss_node
        return (up[loss] - down[loss]) / (2 * h), kink

    def check_node(self, node):
        if not 0 <= node < self.trace.num_nodes:
            raise ValueError(f"node {node} is not in this trace (ids run from 0 to {self.trace.num_nodes - 1})")
        node = int(node)
        value = float(self.trace.data[node])
        h = self.step * max(1.0, abs(value))
        numerical, kink = self._difference(node, h)
        for _ in range(KINK_RETRIES):
            if not kink:
                break
            h /= 100
            numerical, kink = self._difference(node, h)
        recorded = float(self.trace.grad[node])
        abs_error = abs(recorded - numerical)
        rel_error = abs_error / max(abs(recorded), abs(numerical), GRAD_FLOOR)
        return GradCheckRow(node, node_label(self.trace, node), value, recorded, numerical, abs_error, rel_error, kink)

    def check(self, nodes):
        return GradCheckReport(tuple(self.check_node(n) for n in nodes), self.tolerance, self.step)


def gradcheck(trace, nodes=(), params=0, seed=0, step=STEP, tolerance=TOLERANCE):
    """Check the given node ids plus `params` randomly sampled parameters."""
    chosen = list(nodes) + [n for n in sample_params(trace, params, seed) if n not in set(nodes)]
    return GradChecker(trace, step, tolerance).check(chosen)
